"""``pointnet2_temporal``: a PointNet++ (SSG) per frame, then a temporal model over the frame vectors.

Spatial structure is learned per frame with the classic single-scale-grouping PointNet++ classifier
trunk (Qi et al. 2017: 512 centroids r 0.2 k 32, 128 centroids r 0.4 k 64, global MLP to 1024, radii for
clouds normalised to the unit sphere: use the ``pointcloud.normalize`` transform); motion is left to a
light temporal model over the per-frame vectors, which is much cheaper than 4D point convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.types import EncoderSpec, Features
from fusion_plugins.pointcloud.pointnet2 import GlobalAbstraction, SetAbstraction

TEMPORAL_MODELS = ("conv", "gru", "transformer", "none")

#: CPU-test configuration.
SMALL = {
    "num_centroids": (32, 8),
    "k": (8, 8),
    "sa_mlps": ((8, 8, 16), (16, 16, 32), (32, 64)),
    "temporal_layers": 1,
}


class TemporalConv(nn.Module):
    """Residual 1D conv blocks over time: ``x + ReLU(BN(Conv1d_k3(x)))``, length preserved."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True))
            for _ in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        for block in self.blocks:
            x = x + block(x)
        return x.transpose(1, 2)


class TemporalGRU(nn.Module):
    """Bidirectional GRU with ``dim / 2`` units per direction, so the output width stays ``dim``."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        if dim % 2:
            raise RecipeError(f"pointnet2_temporal: temporal='gru' splits the feature size over two directions, got {dim}; "
                              "expected an even size (the last sa_mlps width)")
        self.gru = nn.GRU(dim, dim // 2, num_layers=layers, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]


class TemporalTransformer(nn.Module):
    """Pre-norm transformer encoder over frames with a learned position embedding (up to ``max_frames``)."""

    def __init__(self, dim: int, layers: int, heads: int = 8, max_frames: int = 64):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(1, max_frames, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.position.shape[1]:
            raise ContractError(f"pointnet2_temporal: the clip has {x.shape[1]} frames; the temporal transformer expects at "
                                f"most max_frames={self.position.shape[1]}")
        return self.encoder(x + self.position[:, : x.shape[1]])


def check_temporal(kind: str) -> None:
    if kind not in TEMPORAL_MODELS:
        raise RecipeError(f"pointnet2_temporal: temporal={kind!r} is unknown; expected one of {', '.join(TEMPORAL_MODELS)}")


def temporal_model(kind: str, dim: int, layers: int) -> nn.Module:
    check_temporal(kind)
    if kind == "conv":
        return TemporalConv(dim, layers)
    if kind == "gru":
        return TemporalGRU(dim, layers)
    if kind == "transformer":
        return TemporalTransformer(dim, layers)
    return nn.Identity()  # "none"


class PointNet2Temporal(nn.Module):
    """``(B, T, N, 3 + F)`` -> frames ``(B, T, D)``, pooled ``(B, D)``, and per-centroid ``points``/``xyz``.

    ``points (B, T, M, D)`` are the global MLP's per-centroid features before its max (M = the second
    level's centroids, ``xyz`` their positions), so they share ``D`` with ``frames``.
    """

    def __init__(
        self,
        in_channels: int,
        num_centroids: Sequence[int],
        radii: Sequence[float],
        k: Sequence[int],
        sa_mlps: Sequence[Sequence[int]],
        temporal: str,
        temporal_layers: int,
    ):
        super().__init__()
        self.sa1 = SetAbstraction(in_channels, sa_mlps[0], num_centroids[0], radii[0], k[0])
        self.sa2 = SetAbstraction(3 + self.sa1.out_dim, sa_mlps[1], num_centroids[1], radii[1], k[1])
        self.sa3 = GlobalAbstraction(3 + self.sa2.out_dim, sa_mlps[2])
        self.out_dim = self.sa3.out_dim
        self.temporal = temporal_model(temporal, self.out_dim, temporal_layers)

    def forward(self, x: torch.Tensor) -> Features:
        batch, frames, n, channels = x.shape
        x = x.reshape(batch * frames, n, channels)
        xyz1, feat1 = self.sa1(x[..., :3], x[..., 3:] if channels > 3 else None)
        xyz2, feat2 = self.sa2(xyz1, feat1)
        points, per_frame = self.sa3(xyz2, feat2)
        sequence = self.temporal(per_frame.reshape(batch, frames, -1))
        return Features(
            pooled=sequence.mean(dim=1),
            frames=sequence,
            points=points.reshape(batch, frames, *points.shape[1:]),
            xyz=xyz2.reshape(batch, frames, *xyz2.shape[1:]),
        )


def pointnet2_temporal(
    in_channels: int = 3,
    num_centroids: Sequence[int] = (512, 128),
    radii: Sequence[float] = (0.2, 0.4),
    k: Sequence[int] = (32, 64),
    sa_mlps: Sequence[Sequence[int]] = ((64, 64, 128), (128, 128, 256), (256, 512, 1024)),
    temporal: str = "conv",
    temporal_layers: int = 2,
) -> PointNet2Temporal:
    """Per-frame PointNet++ SSG (defaults: the paper's classification trunk, D = 1024) + a temporal model.

    Args:
        in_channels: 3 + extra per-point channels (xyz first).
        temporal: ``conv`` (residual 1D convs), ``gru`` (bidirectional), ``transformer`` or ``none``.
    """
    check_temporal(temporal)
    return PointNet2Temporal(in_channels, tuple(num_centroids), tuple(radii), tuple(k),
                             tuple(map(tuple, sa_mlps)), temporal, temporal_layers)


SPEC = EncoderSpec(
    name="pointnet2_temporal",
    factory=pointnet2_temporal,
    modality="pointcloud",
    provides=frozenset({"pooled", "frames", "points", "xyz"}),
    doc="Per-frame PointNet++ (SSG) + temporal conv/GRU/transformer over frames.",
)
