"""RGB video modality: raw (T, H, W, 3) uint8 frames become (3, T, H, W) float tensors in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import ModalitySpec


def rgb_to_tensor(array) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (3, T, H, W) float32 in [0, 1]; float input is taken as already scaled."""
    tensor = torch.as_tensor(np.ascontiguousarray(array))
    if tensor.dtype == torch.uint8:
        tensor = tensor.float().div_(255.0)
    if tensor.dim() == 4 and tensor.shape[-1] == 3:
        tensor = tensor.permute(3, 0, 1, 2)
    return tensor.contiguous().float()


SPECS = [
    ModalitySpec(
        name="rgb",
        factory=rgb_to_tensor,
        raw_layout="(T, H, W, 3) uint8",
        batch_layout="(B, 3, T, H, W) float in [0, 1] (normalised by transforms)",
        time_axis=0,
        doc="RGB video frames.",
    )
]
