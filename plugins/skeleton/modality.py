"""Skeleton and 2D-pose modalities: raw (M, T, V, C) arrays become (C, T, V, M) tensors."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import ModalitySpec
from fusion_plugins.skeleton.drawing import POSE2D, SKELETON


def skeleton_to_tensor(array: np.ndarray) -> torch.Tensor:
    """(M, T, V, C) float array → (C, T, V, M) float32 tensor, the ST-GCN family's layout."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32).transpose(3, 1, 2, 0)))


def layout_bones(name: str) -> list[tuple[int, int]]:
    """Bone pairs of the named layout (``ntu25``, ``coco17``...) for drawing; a RecipeError names the known ones."""
    from fusion_plugins.skeleton.layouts import get_layout

    return [(int(a), int(b)) for a, b in get_layout(name).bones]


def bones_or_empty(name: str) -> list[tuple[int, int]]:
    """:func:`layout_bones`, or none for a layout that cannot be resolved (an overlay then draws joints only)."""
    try:
        return layout_bones(name)
    except Exception:
        return []


SPECS = [
    ModalitySpec(
        name="skeleton",
        factory=skeleton_to_tensor,
        raw_layout="(M, T, V, C) float32 metres or pixels",
        batch_layout="(B, C, T, V, M)",
        time_axis=1,
        bones=layout_bones,
        draw=SKELETON,
        doc="3D (or 2D) joint coordinates per person and frame.",
    ),
    ModalitySpec(
        name="pose2d",
        factory=skeleton_to_tensor,
        raw_layout="(M, T, V, 3) x, y, score in pixels",
        batch_layout="(B, 3, T, V, M)",
        time_axis=1,
        bones=layout_bones,
        draw=POSE2D,
        doc="2D keypoints with detector scores.",
    ),
]
