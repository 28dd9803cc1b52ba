"""Pose metrics (C3P / UniPose protocol) and the naive lifting baseline.

- MPJPE: mean Euclidean distance between predicted and true joints, metres (reports print cm).
- accuracy within 10 cm (C3P's "mAP@10cm"): the fraction of joints closer than 10 cm.
- naive lifting: a 2D keypoint plus the depth map's value at that pixel, back-projected with the
  intrinsics; a pixel without a reading takes the frame's median valid depth.
"""

from __future__ import annotations

import torch

from fusion_plugins.unipose.geometry import backproject


def joint_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-joint distances ``(..., J)`` between ``pred`` and ``gt`` ``(..., J, 3)``."""
    return (pred.float() - gt.float()).norm(dim=-1)


def mpjpe(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error (same unit as the inputs)."""
    return joint_errors(pred, gt).mean()


def accuracy_within(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.10) -> torch.Tensor:
    """Fraction of joints whose error is below ``threshold`` (0.10 m = C3P's mAP@10cm)."""
    return (joint_errors(pred, gt) < threshold).float().mean()


def naive_lift(uv: torch.Tensor, depth: torch.Tensor, k: torch.Tensor, y_up: bool = True) -> torch.Tensor:
    """Joints ``(B, T, J, 3)`` from detections ``uv (B, T, J, 2)`` and ``depth (B, 1, T, H, W)`` metres."""
    from fusion_plugins.unipose.image_lifter import median_valid_depth

    batch, frames, joints, _ = uv.shape
    height, width = depth.shape[-2:]
    maps = depth[:, 0].reshape(batch * frames, height * width)
    col = uv[..., 0].floor().long().clamp(0, width - 1).reshape(batch * frames, joints)
    row = uv[..., 1].floor().long().clamp(0, height - 1).reshape(batch * frames, joints)
    z = maps.gather(1, row * width + col)
    fallback = median_valid_depth(maps.view(-1, 1, height, width)).unsqueeze(1)
    z = torch.where(z > 0, z, fallback).reshape(batch, frames, joints, 1)
    return backproject(torch.cat([uv, z], dim=-1), k, y_up)
