"""Depth modality: raw (T, H, W) uint16 millimetres become (1, T, H, W) float metres."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import Drawing, ModalitySpec


def depth_to_tensor(array) -> torch.Tensor:
    """(T, H, W) uint16 mm → (1, T, H, W) float32 metres (0 stays 0 = no reading); float input kept."""
    array = np.asarray(array)
    tensor = torch.from_numpy(array.astype(np.float32) / 1000.0 if array.dtype == np.uint16 else array.astype(np.float32))
    return tensor[None] if tensor.dim() == 3 else tensor


def depth_range(clip) -> list[float]:
    """The 1st and 99th percentile of the clip's readings: one colour scale for every frame."""
    nonzero = np.asarray(clip)[np.asarray(clip) > 0]
    return (np.percentile(nonzero, [1, 99]) if nonzero.size else np.array([0.0, 1.0])).tolist()


def draw_depth(ax, clip, t: int, scale: list[float]) -> str:
    """Frame ``t`` as a colour map with a colour bar; no reading (0) is black."""
    import matplotlib.pyplot as plt

    depth = np.asarray(clip[t]).astype(np.float64)
    cmap = plt.get_cmap("turbo").with_extremes(bad="black")
    image = ax.imshow(np.ma.masked_equal(depth, 0), cmap=cmap, vmin=scale[0], vmax=scale[1])
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    ax.axis("off")
    return "depth (mm; black = no reading)"


SPECS = [
    ModalitySpec(
        name="depth",
        factory=depth_to_tensor,
        raw_layout="(T, H, W) uint16 millimetres, 0 = no reading",
        batch_layout="(B, 1, T, H, W) float metres",
        time_axis=0,
        draw=Drawing(rank=20, panel=draw_depth, scale=depth_range),
        doc="Depth maps.",
    )
]
