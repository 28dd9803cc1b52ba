"""RGB video modality: raw (T, H, W, 3) uint8 frames become (3, T, H, W) float tensors in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import Drawing, ModalitySpec


def rgb_to_tensor(array) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (3, T, H, W) float32 in [0, 1]; float input is taken as already scaled."""
    tensor = torch.as_tensor(np.ascontiguousarray(array))
    if tensor.dim() == 4 and tensor.shape[-1] == 3:
        tensor = tensor.permute(3, 0, 1, 2)
    if tensor.dtype == torch.uint8:  # one pass: convert and transpose into the new tensor, then scale in place
        return torch.empty(tensor.shape).copy_(tensor).div_(255.0)
    return tensor.contiguous().float()


def stack_rgb(arrays, empty) -> torch.Tensor | None:
    """The collator's fast path (:class:`fusion.data.Collator`): uint8 (T, H, W, 3) clips of one shape are
    written as float straight into the (B, 3, T, H, W) batch (one converting pass per clip, one in-place
    division for the batch), bit-identical to stacking :func:`rgb_to_tensor`; None for other input."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.ndim != 4 or first.shape[-1] != 3 or any(
            not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.shape != first.shape for a in arrays):
        return None
    frames, height, width, _ = first.shape
    out = empty((len(arrays), 3, frames, height, width), torch.float32)
    for slot, array in zip(out, arrays):
        slot.copy_(torch.from_numpy(np.ascontiguousarray(array)).permute(3, 0, 1, 2))
    return out.div_(255.0)


rgb_to_tensor.stack = stack_rgb


def draw_rgb(ax, clip, t: int, scale=None) -> str:
    """Frame ``t`` as an image in pixel coordinates (``fusion data show`` draws the joints over it)."""
    rgb = np.asarray(clip[t])
    ax.imshow(rgb)
    ax.set_xlim(0, rgb.shape[1])
    ax.set_ylim(rgb.shape[0], 0)
    ax.axis("off")
    return "rgb"


def rgb_size(clip) -> tuple[int, int]:
    """(width, height) of the frames."""
    return int(np.shape(clip)[2]), int(np.shape(clip)[1])


SPECS = [
    ModalitySpec(
        name="rgb",
        factory=rgb_to_tensor,
        raw_layout="(T, H, W, 3) uint8",
        batch_layout="(B, 3, T, H, W) float in [0, 1] (normalised by transforms)",
        time_axis=0,
        draw=Drawing(rank=10, panel=draw_rgb, image_size=rgb_size),
        doc="RGB video frames.",
    )
]
