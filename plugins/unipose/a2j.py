"""Anchor-to-joint (A2J) regression: dense in-plane anchors vote for each joint's pixel and depth.

A2J (Xiong et al., ICCV'19): anchors are tiled over the image (``offsets`` inside
every ``stride`` x ``stride`` cell). For anchor ``a`` and joint ``j`` the heads predict a response
``s_aj``, an in-plane offset ``o_aj`` (pixels) and a depth ``d_aj``; with ``w_aj = softmax_a(s_aj)``
the joint is ``u_j = sum_a w_aj (anchor_a + o_aj)``, ``z_j = sum_a w_aj d_aj``. The official heads
are four 3x3 conv + BN + ReLU layers of 256 channels and a 3x3 output conv; responses read the
backbone's stage-3 features, offsets and depths its stage-4 features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def anchor_grid(height: int, width: int, stride: int, offsets: Sequence[float], device=None) -> torch.Tensor:
    """Anchor pixel positions ``(A, 2)`` as ``(u, v)``, ordered (cell row, cell column, v offset, u offset).

    ``A = height * width * len(offsets)^2`` for a ``height x width`` feature map of the given stride.
    """
    offsets = torch.as_tensor(offsets, dtype=torch.float32, device=device)
    local_v, local_u = torch.meshgrid(offsets, offsets, indexing="ij")
    local = torch.stack([local_u.flatten(), local_v.flatten()], -1)  # (P, 2)
    rows = torch.arange(height, dtype=torch.float32, device=device) * stride
    cols = torch.arange(width, dtype=torch.float32, device=device) * stride
    cell_v, cell_u = torch.meshgrid(rows, cols, indexing="ij")
    cells = torch.stack([cell_u.flatten(), cell_v.flatten()], -1)  # (H*W, 2)
    return (cells[:, None, :] + local[None]).reshape(-1, 2)


class A2JBranch(nn.Sequential):
    """``layers`` x (3x3 conv + BN + ReLU) of ``width`` channels, then a 3x3 conv to ``anchors x outputs``."""

    def __init__(self, in_channels: int, outputs: int, width: int = 256, layers: int = 4):
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        blocks.append(nn.Conv2d(width if layers else in_channels, outputs, 3, padding=1))
        super().__init__(*blocks)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_normal_(module.weight)


class A2JHead(nn.Module):
    """The three A2J branches and the anchor-weighted decoding.

    ``forward(stage3, stage4)`` (both ``(B, C, h, w)`` at ``stride``) returns a dict of ``uv (B, J, 2)``
    pixels, ``depth (B, J)`` (head units), ``anchor_uv (B, J, 2)`` (the response-weighted anchor
    position, which A2J's informativeness loss supervises) and ``weights (B, A, J)`` (sum 1 over A).
    """

    def __init__(self, stage3_channels: int, stage4_channels: int, num_joints: int, stride: int = 16,
                 offsets: Sequence[float] = (2, 6, 10, 14), width: int = 256, layers: int = 4):
        super().__init__()
        self.num_joints, self.stride, self.offsets = num_joints, stride, tuple(float(o) for o in offsets)
        per_cell = len(self.offsets) ** 2
        self.per_cell = per_cell
        self.response = A2JBranch(stage3_channels, per_cell * num_joints, width, layers)
        self.offset = A2JBranch(stage4_channels, per_cell * num_joints * 2, width, layers)
        self.depth = A2JBranch(stage4_channels, per_cell * num_joints, width, layers)

    def _per_anchor(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        """``(B, P * J * c, h, w)`` -> ``(B, h * w * P, J, c)`` in :func:`anchor_grid` order."""
        b, _, h, w = x.shape
        return x.view(b, self.per_cell, self.num_joints, channels, h, w).permute(0, 4, 5, 1, 2, 3).reshape(
            b, h * w * self.per_cell, self.num_joints, channels)

    def forward(self, stage3: torch.Tensor, stage4: torch.Tensor) -> dict[str, torch.Tensor]:
        h, w = stage4.shape[-2:]
        anchors = anchor_grid(h, w, self.stride, self.offsets, stage4.device)  # (A, 2)
        response = self._per_anchor(self.response(stage3), 1)[..., 0]
        offset = self._per_anchor(self.offset(stage4), 2)
        depth = self._per_anchor(self.depth(stage4), 1)[..., 0]
        weights = F.softmax(response.float(), dim=1)  # (B, A, J)
        anchor_uv = torch.einsum("baj,ac->bjc", weights, anchors)
        uv = anchor_uv + torch.einsum("baj,bajc->bjc", weights, offset.float())
        return {"uv": uv, "depth": (weights * depth.float()).sum(1), "anchor_uv": anchor_uv, "weights": weights}
