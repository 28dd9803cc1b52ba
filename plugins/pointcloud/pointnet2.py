"""PointNet++ layers (Qi et al. 2017): set abstraction (sample, group, shared MLP, max) and feature propagation.

Channel-last interfaces (``xyz (B, N, 3)``, ``features (B, N, C)``); the shared MLPs are 1x1 ``Conv2d`` +
``BatchNorm2d`` + ReLU with bias, as in C3P's ``make_mlp_layers``, so parameter counts match the
official networks. Sampling is split from the forward pass (:meth:`SetAbstraction.sample`) so several
stacks can share one set of neighbourhoods, as C3P's two stacks do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion_plugins.pointcloud.ops import ball_query, farthest_point_sample, gather_points, group, interpolate


def shared_mlp(channels: Sequence[int]) -> nn.Sequential:
    """``Conv2d 1x1 (bias) -> BatchNorm2d -> ReLU`` for each consecutive pair of ``channels``."""
    layers: list[nn.Module] = []
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def pointwise(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 1x1-conv ``module`` to channel-last ``x (B, N, C)`` -> ``(B, N, D)``."""
    return module(x.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)


class SetAbstraction(nn.Module):
    """Sample ``num_centroids`` by FPS, group ``k`` neighbours within ``radius``, shared MLP, max over neighbours.

    Args:
        in_channels: 3 (relative xyz) + the feature channels of the input points.
        mlp: output widths of the shared MLP; ``out_dim = mlp[-1]``.
    """

    def __init__(self, in_channels: int, mlp: Sequence[int], num_centroids: int, radius: float, k: int):
        super().__init__()
        self.num_centroids, self.radius, self.k = num_centroids, radius, k
        self.mlp = shared_mlp([in_channels, *mlp])
        self.out_dim = mlp[-1]

    def sample(self, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(centroid indices (B, M), neighbour indices (B, M, k))`` for the points ``xyz (B, N, 3)``."""
        centroid_idx = farthest_point_sample(xyz, self.num_centroids)
        return centroid_idx, ball_query(gather_points(xyz, centroid_idx), xyz, self.radius, self.k)

    def forward(
        self,
        xyz: torch.Tensor,
        features: torch.Tensor | None,
        sampling: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(centroids (B, M, 3), features (B, M, out_dim))``; ``sampling`` reuses :meth:`sample`'s result."""
        centroid_idx, group_idx = sampling if sampling is not None else self.sample(xyz)
        centroids = gather_points(xyz, centroid_idx)
        grouped = group(xyz, features, centroids, group_idx)  # (B, M, k, 3 + C)
        out = self.mlp(grouped.permute(0, 3, 1, 2)).amax(dim=-1)  # (B, D, M)
        return centroids, out.transpose(1, 2)


class GlobalAbstraction(nn.Module):
    """The last set abstraction, over all points: shared MLP on ``[xyz, features]``, then max over points.

    ``forward`` returns the per-point features before the max as well, for encoders that expose points.
    """

    def __init__(self, in_channels: int, mlp: Sequence[int]):
        super().__init__()
        self.mlp = shared_mlp([in_channels, *mlp])
        self.out_dim = mlp[-1]

    def forward(self, xyz: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(per-point features (B, N, D), pooled (B, D))``."""
        per_point = pointwise(self.mlp, torch.cat([xyz, features], dim=-1))
        return per_point, per_point.amax(dim=1)


class FeaturePropagation(nn.Module):
    """Upsample features from ``known`` to ``unknown`` points (3-NN, 1/d^2), concat the skip features, MLP.

    Args:
        in_channels: channels of the known features + channels of the skip (unknown) features.
    """

    def __init__(self, in_channels: int, mlp: Sequence[int], k: int = 3):
        super().__init__()
        self.k = k
        self.mlp = shared_mlp([in_channels, *mlp])
        self.out_dim = mlp[-1]

    def forward(
        self,
        unknown_xyz: torch.Tensor,
        known_xyz: torch.Tensor | None,
        unknown_features: torch.Tensor | None,
        known_features: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, n, out_dim)``; ``known_xyz=None`` means one global feature broadcast to every point."""
        if known_xyz is None:
            upsampled = known_features.expand(-1, unknown_xyz.shape[1], -1)
        else:
            upsampled = interpolate(unknown_xyz, known_xyz, known_features, self.k)
        x = upsampled if unknown_features is None else torch.cat([upsampled, unknown_features], dim=-1)
        return pointwise(self.mlp, x)
