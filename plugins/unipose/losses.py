"""UniPose weak supervision: what constrains 3D joints when only 2D detections are known.

Terms as in C3P's ``core.py``, written for joints ``X (B, T, J, 3)`` in the camera
frame (metres) and 2D detections ``u (B, T, J, 2)`` in pixels:

- ray (2D-to-3D back-projection): the sine-like angle between each joint and the ray through its
  detection; zero on the ray and unchanged when the skeleton is scaled about the camera centre.
- bone-length prior: squared error of 8 limb lengths against prior lengths (metres).
- symmetry: left/right limb length ratios should be 1 (zero for a mirrored skeleton).
- motion: each frame should be the mean of its neighbours (temporal smoothness).
- bone consistency: C3P normalises each frame's bone lengths by their mean (``frame``); ``temporal``
  instead asks each bone to keep its length over the clip (proposed, [INF]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fusion.errors import RecipeError
from fusion_plugins.unipose.geometry import ray_directions

#: The 8 limbs of the bone prior, by the joint names of the skeleton layouts; pairs (left, right).
LIMBS: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)  # fmt: skip
LIMB_NAMES: tuple[str, ...] = ("upper_arm", "forearm", "thigh", "shin")
#: Mean adult limb lengths in metres (Drillis & Contini segment ratios for a 1.70 m adult). C3P loads
#: per-dataset means instead (``mean_bones.json``); a recipe can pass its own through ``bone_prior``.
DEFAULT_BONE_PRIOR: dict[str, float] = {"upper_arm": 0.316, "forearm": 0.248, "thigh": 0.417, "shin": 0.418}
#: C3P's loss weights; UniPose's own are not published.
C3P_WEIGHTS: dict[str, float] = {"bone": 1.0, "ray": 10.0, "symmetry": 0.002, "motion": 0.1, "consistency": 0.002}


def ray_loss(
    joints: torch.Tensor,
    uv: torch.Tensor,
    k: torch.Tensor,
    y_up: bool = True,
    rotation: torch.Tensor | None = None,
    translation: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """``mean_j ||(d_x P_z - P_x, d_y P_z - P_y)|| / (||d|| ||P||)`` with ``P = R X + t``.

    ``joints (B, ..., 3)`` in the depth camera; ``uv (B, ..., 2)`` detections in the colour image of
    intrinsics ``k (B, 4)``; ``rotation (B, 3, 3)``/``translation (B, 3)`` map depth to colour camera
    (identity when omitted: registered RGB-D). ``weight (B, ...)`` (e.g. detector scores) weights the mean.
    """
    p = joints
    if rotation is not None:
        p = (p.reshape(p.shape[0], -1, 3) @ rotation.transpose(1, 2)).reshape(p.shape)
    if translation is not None:
        p = p + translation.view(translation.shape[0], *([1] * (p.dim() - 2)), 3)
    d = ray_directions(uv, k, y_up)
    residual = torch.stack([d[..., 0] * p[..., 2] - p[..., 0], d[..., 1] * p[..., 2] - p[..., 1]], dim=-1)
    error = residual.norm(dim=-1) / (d.norm(dim=-1) * p.norm(dim=-1)).clamp_min(eps)
    if weight is None:
        return error.mean()
    return (error * weight).sum() / weight.sum().clamp_min(eps)


def segment_lengths(joints: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Lengths ``(..., P)`` of the segments ``pairs (P, 2)`` of ``joints (..., J, 3)``."""
    return (joints[..., pairs[:, 0], :] - joints[..., pairs[:, 1], :]).norm(dim=-1)


def bone_prior_loss(joints: torch.Tensor, limbs: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """MSE between the limb lengths ``(..., 8)`` and ``prior (8,)`` metres."""
    return (segment_lengths(joints, limbs) - prior).pow(2).mean()


def symmetry_loss(joints: torch.Tensor, limbs: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``MSE([l_L / l_R ; l_R / l_L], 1)`` over the limb pairs (the first half of ``limbs`` is left)."""
    lengths = segment_lengths(joints, limbs).clamp_min(eps)
    left, right = lengths.chunk(2, dim=-1)
    return torch.cat([left / right, right / left], dim=-1).sub(1.0).pow(2).mean()


def motion_loss(joints: torch.Tensor) -> torch.Tensor:
    """``MSE((X_{t-1} + X_{t+1}) / 2, X_t)`` over the inner frames of ``joints (B, T, J, 3)``; 0 if T < 3."""
    if joints.shape[1] < 3:
        return joints.new_zeros(())
    return ((joints[:, :-2] + joints[:, 2:]) / 2 - joints[:, 1:-1]).pow(2).mean()


def bone_consistency_loss(joints: torch.Tensor, bones: torch.Tensor, mode: str = "frame", eps: float = 1e-6) -> torch.Tensor:
    """Bone lengths ``(B, T, P)`` normalised by their mean over bones (``frame``, C3P) or over time
    (``temporal``, a true cross-frame constancy term), compared with 1 by MSE."""
    if mode not in ("frame", "temporal"):
        raise RecipeError(f"unipose_lift consistency={mode!r}; expected 'frame' (C3P) or 'temporal'")
    lengths = segment_lengths(joints, bones)
    axis = -1 if mode == "frame" else 1
    return (lengths / lengths.mean(dim=axis, keepdim=True).clamp_min(eps)).sub(1.0).pow(2).mean()


@dataclass
class WeakTerms:
    """The weak-supervision terms of one set of joints, and their weighted sum."""

    terms: dict[str, torch.Tensor]
    total: torch.Tensor


def weak_supervision(
    joints: torch.Tensor,
    uv: torch.Tensor,
    k: torch.Tensor,
    limbs: torch.Tensor,
    bones: torch.Tensor,
    prior: torch.Tensor,
    weights: dict[str, float],
    y_up: bool = True,
    score: torch.Tensor | None = None,
    consistency: str = "frame",
) -> WeakTerms:
    """All five terms for ``joints (B, T, J, 3)`` and detections ``uv (B, T, J, 2)``; weights by term name."""
    terms = {
        "ray": ray_loss(joints, uv, k, y_up, weight=score),
        "bone": bone_prior_loss(joints, limbs, prior),
        "symmetry": symmetry_loss(joints, limbs),
        "motion": motion_loss(joints),
        "consistency": bone_consistency_loss(joints, bones, consistency),
    }
    total = sum(weights.get(name, 0.0) * value for name, value in terms.items())
    return WeakTerms(terms, total)
