"""Graph Isomorphism Network layers over per-frame skeleton graphs (SkeletonMAE's encoder and decoder).

A frame of one person is a graph: V joints with the layout's bone adjacency ``A`` (binary, symmetric,
no self loops). A GIN layer computes ``h' = MLP((1 + ε)·h + A·h)`` with a learnable ε (GIN-ε), the
MLP being ``Linear → BN → PReLU → Linear``; hidden layers end with BN + PReLU (GraphMAE's GIN).

:class:`SkeletonGIN` is the registered encoder ``skeleton_gin``: joint coordinates are embedded by a
Linear layer, the GIN stack runs on every (sample, person, frame) graph, and features are averaged
like every skeleton encoder's (``pooled`` = mean over time, joints and persons). Its token-level API
(``graphs``, ``embed``, ``encode_graphs``) is what the SkeletonMAE objective masks.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.types import Features
from fusion_plugins.skeleton.blocks import check_input, joint_features
from fusion_plugins.skeleton.layouts import get_layout


class GINLayer(nn.Module):
    """``h' = MLP((1 + ε)·h + A·h)`` on ``(G, V, D)``; ``norm_act`` adds BN + PReLU after the MLP."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int | None = None, norm_act: bool = True):
        super().__init__()
        hidden = hidden or out_dim
        self.eps = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.PReLU(),
                                 nn.Linear(hidden, out_dim))
        self.post = nn.Sequential(nn.BatchNorm1d(out_dim), nn.PReLU()) if norm_act else nn.Identity()

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        g, v, d = h.shape
        mixed = (1 + self.eps) * h + torch.einsum("uv,gvd->gud", adjacency, h)
        return self.post(self.mlp(mixed.reshape(g * v, d))).reshape(g, v, -1)


class GINStack(nn.Module):
    """``layers`` GIN layers ``in_dim → hidden → … → hidden``, each with BN + PReLU."""

    def __init__(self, in_dim: int, hidden: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(GINLayer(in_dim if i == 0 else hidden, hidden) for i in range(layers))

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h, adjacency)
        return h


class SkeletonGIN(nn.Module):
    """Per-frame GIN encoder: ``(B, C, T, V, M)`` → Features (``joints`` (B, D, T, V), ``frames``, ``pooled``).

    Args:
        layout: skeleton layout (graph and V).
        in_channels: C.
        dim: joint embedding width D (64 in SkeletonMAE).
        hidden: GIN width (the output width; 64).
        layers: GIN layers L_D (3).
        joint_embedding: add a learnable per-joint embedding before the GIN layers (proposed: GIN is
            permutation-equivariant, so without it a masked joint cannot know which joint it is).
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, dim: int = 64, hidden: int = 64, layers: int = 3,
                 joint_embedding: bool = True):
        super().__init__()
        self.layout = get_layout(layout)
        self.in_channels, self.dim, self.out_dim = in_channels, dim, hidden
        self.embed = nn.Linear(in_channels, dim)
        self.joint_embed = nn.Parameter(torch.zeros(1, self.layout.num_joints, dim)) if joint_embedding else None
        if joint_embedding:
            nn.init.trunc_normal_(self.joint_embed, std=0.02)
        self.gin = GINStack(dim, hidden, layers)
        self.register_buffer("adjacency", torch.as_tensor(self.layout.adjacency(), dtype=torch.float32),
                             persistent=False)

    def no_weight_decay(self) -> set[str]:
        return {"joint_embed"}

    def graphs(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, V, M)`` → ``(B·M·T, V, C)`` per-frame graphs (person-major, then time)."""
        b, c, t, v, m = check_input(x, "skeleton_gin", self.layout, self.in_channels)
        return x.permute(0, 4, 2, 3, 1).reshape(b * m * t, v, c)

    def encode_graphs(self, h: torch.Tensor) -> torch.Tensor:
        """GIN stack on embedded (possibly masked) graphs ``(G, V, D)`` → ``(G, V, hidden)``."""
        if self.joint_embed is not None:
            h = h + self.joint_embed
        return self.gin(h, self.adjacency)

    def forward(self, x: torch.Tensor) -> Features:
        b, _, t, v, m = x.shape
        z = self.encode_graphs(self.embed(self.graphs(x)))  # B·M·T, V, D
        z = z.reshape(b * m, t, v, -1).permute(0, 3, 1, 2)
        return joint_features(z, b, m)


def skeleton_gin(layout: str = "ntu25", in_channels: int = 3, dim: int = 64, hidden: int = 64,
                 layers: int = 3, joint_embedding: bool = True) -> SkeletonGIN:
    """SkeletonMAE's GIN encoder (D = 64, 3 layers); see :class:`SkeletonGIN`."""
    return SkeletonGIN(layout, in_channels, dim, hidden, layers, joint_embedding)
