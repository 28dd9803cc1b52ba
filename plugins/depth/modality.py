"""Depth modality: raw (T, H, W) uint16 millimetres become (1, T, H, W) float metres."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import ModalitySpec


def depth_to_tensor(array) -> torch.Tensor:
    """(T, H, W) uint16 mm → (1, T, H, W) float32 metres (0 stays 0 = no reading); float input kept."""
    array = np.asarray(array)
    tensor = torch.from_numpy(array.astype(np.float32) / 1000.0 if array.dtype == np.uint16 else array.astype(np.float32))
    return tensor[None] if tensor.dim() == 3 else tensor


SPECS = [
    ModalitySpec(
        name="depth",
        factory=depth_to_tensor,
        raw_layout="(T, H, W) uint16 millimetres, 0 = no reading",
        batch_layout="(B, 1, T, H, W) float metres",
        time_axis=0,
        doc="Depth maps.",
    )
]
