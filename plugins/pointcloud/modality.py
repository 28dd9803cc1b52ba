"""Point-cloud modality: raw (T, N, 3 + F) float32 metres, kept as is per sample."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import Drawing, ModalitySpec


def pointcloud_to_tensor(array) -> torch.Tensor:
    """(T, N, 3 + F) → float32 tensor of the same layout (N must already be fixed by a transform)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32)))


def cloud_range(clip) -> tuple[np.ndarray, np.ndarray]:
    """Corners of the box around every non-zero point of the clip: fixed axes for every frame."""
    xyz = np.asarray(clip)[..., :3].reshape(-1, 3)
    xyz = xyz[np.abs(xyz).sum(1) > 0]
    return (xyz.min(0), xyz.max(0)) if len(xyz) else (np.zeros(3) - 1, np.ones(3))


def draw_pointcloud(ax, clip, t: int, scale: tuple[np.ndarray, np.ndarray]) -> str:
    """Frame ``t`` as a 3D scatter coloured by depth; camera frame shown with depth going into the page."""
    xyz = np.asarray(clip[t])[..., :3]
    xyz = xyz[np.abs(xyz).sum(1) > 0]
    lo, hi = scale
    ax.scatter(xyz[:, 0], xyz[:, 2], xyz[:, 1], c=xyz[:, 2], cmap="viridis", s=2, depthshade=False)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[2], hi[2])
    ax.set_zlim(lo[1], hi[1])
    ax.view_init(elev=10, azim=-80)
    ax.set_xlabel("x", fontsize=6)
    ax.set_ylabel("z", fontsize=6)
    ax.set_zlabel("y", fontsize=6)
    ax.tick_params(labelsize=5)
    return f"point cloud ({len(xyz)} points)"


SPECS = [
    ModalitySpec(
        name="pointcloud",
        factory=pointcloud_to_tensor,
        raw_layout="(T, N, 3 + F) float32 metres, camera frame",
        batch_layout="(B, T, N, 3 + F)",
        time_axis=0,
        draw=Drawing(rank=30, panel=draw_pointcloud, scale=cloud_range, projection="3d"),
        doc="Per-frame point clouds (from depth and intrinsics).",
    )
]
