"""Camera and body-frame geometry for UniPose: intrinsics, projection, rays, oriented bounding boxes.

Pixel convention: ``u = cx + fx x / z``; ``v = cy + s fy y / z`` with ``s = -1`` when the camera's
y axis points up (Kinect camera space, SynthAct) and ``s = +1`` for the usual y-down pinhole camera
(CMU Panoptic's calibrated Kinects). Every function takes ``y_up`` so one code path serves both.
Intrinsics travel as a ``(B, 4)`` tensor ``(fx, fy, cx, cy)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from fusion.errors import ContractError

INTRINSIC_KEYS = ("fx", "fy", "cx", "cy")


def intrinsics_tensor(source, batch: int | None = None, device=None) -> torch.Tensor:
    """``(B, 4)`` float tensor from a list of per-sample dicts (batch meta) or one dict (recipe args).

    ``source`` may be ``batch["meta"]`` (each entry with an ``intrinsics`` dict), a list of intrinsics
    dicts, one dict (repeated ``batch`` times) or a tensor already.
    """
    if isinstance(source, torch.Tensor):
        return source.to(device=device, dtype=torch.float32)
    if isinstance(source, Mapping):
        rows = [source] * (batch or 1)
    else:
        rows = [entry.get("intrinsics", entry) if isinstance(entry, Mapping) else entry for entry in source]
    values = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or any(k not in row for k in INTRINSIC_KEYS):
            raise ContractError(
                f"unipose: sample {i} has no camera intrinsics; expected meta['intrinsics'] with keys "
                f"{', '.join(INTRINSIC_KEYS)}, got {row!r:.120}"
            )
        values.append([float(row[k]) for k in INTRINSIC_KEYS])
    return torch.tensor(values, dtype=torch.float32, device=device)


def _expand(k: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Split ``k (B, 4)`` into four tensors broadcastable against ``like (B, ...)`` without its last axis."""
    shape = (k.shape[0],) + (1,) * (like.dim() - 2)
    return tuple(k[:, i].view(shape) for i in range(4))


def project(xyz: torch.Tensor, k: torch.Tensor, y_up: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Camera points ``(B, ..., 3)`` -> ``(B, ..., 3)`` = pixel ``u, v`` and depth ``z`` (metres)."""
    fx, fy, cx, cy = _expand(k, xyz)
    z = xyz[..., 2]
    zs = z.clamp_min(eps)
    sign = -1.0 if y_up else 1.0
    return torch.stack([cx + fx * xyz[..., 0] / zs, cy + sign * fy * xyz[..., 1] / zs, z], dim=-1)


def backproject(uvz: torch.Tensor, k: torch.Tensor, y_up: bool = True) -> torch.Tensor:
    """Pixel ``u, v`` and depth ``z`` ``(B, ..., 3)`` -> camera points; the inverse of :func:`project`."""
    return ray_directions(uvz[..., :2], k, y_up) * uvz[..., 2:3]


def ray_directions(uv: torch.Tensor, k: torch.Tensor, y_up: bool = True) -> torch.Tensor:
    """``d = ((u - cx) / fx, s (v - cy) / fy, 1)``: the ray through each pixel, scaled to unit depth."""
    fx, fy, cx, cy = _expand(k, uv)
    sign = -1.0 if y_up else 1.0
    dx = (uv[..., 0] - cx) / fx
    dy = sign * (uv[..., 1] - cy) / fy
    return torch.stack([dx, dy, torch.ones_like(dx)], dim=-1)


# ------------------------------------------------------------------------------------------------
# Oriented bounding box (C3P's normalisation of a person's points)


def oriented_box(points: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-6):
    """The OBB frame of each cloud ``points (B, N, 3)``: ``(rotation (B, 3, 3), scale (B,), offset (B, 3))``.

    The rotation's columns are the principal axes (largest variance first). Their signs are fixed so a
    sequence keeps one orientation: axis 1 points along the camera's +y, axis 2 along +x, axis 3 is
    their cross product (a proper rotation, so left and right are never mirrored). ``scale`` is the
    longest side of the box in that frame and ``offset`` the box centre after scaling, so
    :func:`cam_to_obb` maps the cloud into ``[-0.5, 0.5]`` along its longest side. ``valid (B, N)``
    marks real points (default: xyz not all zero).
    """
    if valid is None:
        valid = points.abs().sum(-1) > 0
    weight = valid.to(points.dtype).unsqueeze(-1)
    count = weight.sum(1).clamp_min(1.0)
    mean = (points * weight).sum(1) / count
    centred = (points - mean.unsqueeze(1)) * weight
    cov = centred.transpose(1, 2) @ centred / count.unsqueeze(-1)
    cov = cov + eps * torch.eye(3, dtype=points.dtype, device=points.device)
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    first, second = vectors[..., 2], vectors[..., 1]
    first = first * torch.where(first[:, 1:2] < 0, -1.0, 1.0)
    second = second * torch.where(second[:, 0:1] < 0, -1.0, 1.0)
    rotation = torch.stack([first, second, torch.linalg.cross(first, second)], dim=-1)
    rotated = points @ rotation
    big = torch.finfo(points.dtype).max
    low = torch.where(valid.unsqueeze(-1), rotated, big).amin(1)
    high = torch.where(valid.unsqueeze(-1), rotated, -big).amax(1)
    empty = ~valid.any(1, keepdim=True)
    low, high = torch.where(empty, 0.0, low), torch.where(empty, 1.0, high)
    scale = (high - low).amax(-1).clamp_min(eps)
    offset = (high + low) / 2 / scale.unsqueeze(-1)
    return rotation, scale, offset


def cam_to_obb(x: torch.Tensor, rotation: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``y = (x R) / l - o`` for points ``x (B, ..., 3)`` (any number of middle axes)."""
    flat = x.reshape(x.shape[0], -1, 3)
    y = (flat @ rotation) / scale.view(-1, 1, 1) - offset.unsqueeze(1)
    return y.reshape(x.shape)


def obb_to_cam(y: torch.Tensor, rotation: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``x = ((y + o) l) R^T``: the inverse of :func:`cam_to_obb`."""
    flat = y.reshape(y.shape[0], -1, 3)
    x = ((flat + offset.unsqueeze(1)) * scale.view(-1, 1, 1)) @ rotation.transpose(1, 2)
    return x.reshape(y.shape)


def fold_time(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, ...)`` -> ``(B * T, ...)``."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def joint_names_to_indices(layout_joints: Sequence[str], names: Sequence[str], what: str) -> list[int]:
    """Indices of ``names`` in a layout's joint list, with an error naming the missing joint."""
    missing = [n for n in names if n not in layout_joints]
    if missing:
        raise ContractError(f"unipose {what}: the skeleton layout has no joint {missing[0]!r}")
    return [list(layout_joints).index(n) for n in names]
