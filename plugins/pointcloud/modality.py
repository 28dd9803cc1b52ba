"""Point-cloud modality: raw (T, N, 3 + F) float32 metres, kept as is per sample."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import ModalitySpec


def pointcloud_to_tensor(array) -> torch.Tensor:
    """(T, N, 3 + F) → float32 tensor of the same layout (N must already be fixed by a transform)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32)))


SPECS = [
    ModalitySpec(
        name="pointcloud",
        factory=pointcloud_to_tensor,
        raw_layout="(T, N, 3 + F) float32 metres, camera frame",
        batch_layout="(B, T, N, 3 + F)",
        time_axis=0,
        doc="Per-frame point clouds (from depth and intrinsics).",
    )
]
