"""ST-GCN++ (pyskl, Duan et al. 2022): ST-GCN with a learnable A, GCN residual and a 6-branch MS-TCN.

The ``paper`` configuration is pyskl's ``STGCN(gcn_adaptive='init', gcn_with_res=True,
tcn_type='mstcn')`` backbone, the one BRL builds on: per-person ``BN1d(V·C)``, ten blocks
64×4 → 128×3 (stride 2 at stage 5) → 256×3 (stride 2 at stage 8). Each ``unit_gcn`` learns its own A
(initialised to the spatial partition): ``ReLU(BN(Σ_k conv_k(x) A_k) + down(x))``; each ``mstcn`` has
branches (3,1), (3,2), (3,3), (3,4), max, 1×1 of width ``C // 6`` (the first takes the remainder), no BN
inside the branches, then ``BN → ReLU → 1×1 conv → BN``. Blocks add a residual (off in block 1). The
pyskl ``GCNHead`` (pool, mean over persons, FC 256 → classes) is the framework's linear head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.fastpath import add_relu_, fold_scale_into_rows, is_norm

from .blocks import (
    DataNorm,
    GCNBlock,
    GraphConv,
    GraphStack,
    MultiScaleTemporalConv,
    check_block_lists,
    residual,
    select_config,
)
from .layouts import get_layout

CONFIGS: dict[str, dict] = {
    "paper": dict(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256), strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1),
                  dropout=0.0),
    "small": dict(channels=(16, 32, 64), strides=(1, 2, 2), dropout=0.0),
}

#: pyskl ``mstcn`` branches: four dilated 3×1 convs, a max-pool and a 1×1 conv.
TCN_BRANCHES = ((3, 1), (3, 2), (3, 3), (3, 4), "max", "1x1")


class AdaptiveGraphConv(nn.Module):
    """pyskl ``unit_gcn`` with ``adaptive='init'`` and ``with_res=True``: A is a parameter per block."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor):
        super().__init__()
        self.A = nn.Parameter(adjacency.clone())
        self.conv = GraphConv(in_channels, out_channels, adjacency.shape[0])
        self.bn = nn.BatchNorm2d(out_channels)
        self.down = residual(in_channels, out_channels)
        self.relu = nn.ReLU()

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fast path: the residual add and ReLU reuse the BN output's memory."""
        if self.reference:
            return self.forward_reference(x)
        return add_relu_(self.bn(self.conv(x, self.A)), self.down(x))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x, self.A)) + self.down(x))

    def fold_batchnorm(self) -> None:
        """Inference: BN scale into the graph conv's K·C rows, its shift as a :class:`fusion.fastpath.ChannelShift`."""
        if is_norm(self.bn):
            self.bn = fold_scale_into_rows(self.conv.conv, self.bn, self.conv.num_subsets)


class STGCNPPBlock(GCNBlock):
    """``ReLU(mstcn(unit_gcn(x)) + residual(x))``."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, stride: int = 1,
                 dropout: float = 0.0, use_residual: bool = True):
        super().__init__(
            AdaptiveGraphConv(in_channels, out_channels, adjacency),
            MultiScaleTemporalConv(out_channels, out_channels, TCN_BRANCHES, stride=stride, branch_norm=False,
                                   split="remainder_first", fuse=True, dropout=dropout),
            residual(in_channels, out_channels, stride, use_residual),
        )


class STGCNPP(GraphStack):
    """The ST-GCN++ backbone: ``(B, C, T, V, M)`` → :class:`Features` (``pooled``, ``joints``, ``frames``).

    Args:
        layout: skeleton layout name (``ntu25_b`` is pyskl's NTU graph, ``coco17`` its 2D one).
        in_channels: input channels C.
        channels, strides: per-block widths and temporal strides.
        dropout: MS-TCN dropout of every block but the first (pyskl ``tcn_dropout``, 0 by default).
    """

    name = "stgcnpp"
    channels_last = True

    def __init__(self, layout: str = "ntu25_b", in_channels: int = 3,
                 channels: Sequence[int] = CONFIGS["paper"]["channels"],
                 strides: Sequence[int] = CONFIGS["paper"]["strides"], dropout: float = 0.0):
        super().__init__()
        check_block_lists(self.name, channels, strides)
        self.layout = get_layout(layout)
        self.in_channels = in_channels
        adjacency = torch.from_numpy(self.layout.partition("spatial"))
        self.data_bn = DataNorm(in_channels, self.layout.num_joints, per_person=True)
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            STGCNPPBlock(widths[i], widths[i + 1], adjacency, strides[i], dropout=dropout if i else 0.0,
                         use_residual=i > 0)
            for i in range(len(channels))
        )
        self.out_dim = widths[-1]



def stgcnpp(layout: str = "ntu25_b", in_channels: int = 3, config: str = "paper",
            channels: Sequence[int] | None = None, strides: Sequence[int] | None = None,
            dropout: float | None = None) -> STGCNPP:
    """Build ST-GCN++ from a named ``config`` (``paper``, ``small``); explicit widths override it.

    Args:
        layout: skeleton layout; pyskl's NTU graph is hand convention B (``ntu25_b``, the default).
        in_channels: input channels C.
        config: ``paper`` (pyskl ST-GCN++) or ``small`` (16/32/64, three blocks).
        channels, strides, dropout: override the config.
    """
    cfg = select_config("stgcnpp", CONFIGS, config, channels=channels, strides=strides, dropout=dropout)
    return STGCNPP(layout, in_channels, cfg["channels"], cfg["strides"], cfg["dropout"])
