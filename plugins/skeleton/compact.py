"""``pose2d.compact``: move 2D keypoints into the padded square box around every person of the clip.

Top-down pose pipelines (PoseC3D's ``PoseCompact``, EPAM-Net's ``MMCompact``) crop each clip to one
box, fixed for the whole clip, that encloses every non-zero keypoint of every person and frame, grown
by ``padding`` and made square; keypoints are then expressed in that box. EPAM-Net crops its RGB
videos offline with the same box (resized to 224 x 224), so the heatmaps and the RGB frames describe
the same pixels. ``size`` rescales the box to ``size x size`` pixels; ``rgb_key`` crops and resizes
that video key with the same box online, for datasets whose videos are not cropped offline (boxes
reaching past the image are zero-padded, as PySKL's default ``allow_imgpad``).
"""

from __future__ import annotations

import numpy as np
import torch

from fusion.errors import DataError, RecipeError
from fusion.types import TransformSpec


def compact_box(keypoints: np.ndarray, padding: float = 0.25, min_side: float = 10.0) -> tuple[float, float, float] | None:
    """``(left, top, side)`` of the padded square box around the non-zero ``(M, T, V, >=2)`` keypoints.

    None when the keypoints span less than ``min_side`` pixels in x or y (nothing sensible to crop).
    """
    xy = keypoints[..., :2].reshape(-1, 2)
    xy = xy[np.any(xy != 0, axis=1)]
    if len(xy) == 0:
        return None
    low, high = xy.min(axis=0), xy.max(axis=0)
    if np.any(high - low < min_side):
        return None
    centre = (low + high) / 2
    half = float(np.max((high - low) / 2 * (1 + padding)))  # square: the longer side decides
    return float(centre[0] - half), float(centre[1] - half), 2 * half


class Compact:
    """Express 2D keypoints in the padded square box around all persons (PoseC3D/EPAM-Net compact)."""

    name = "pose2d.compact"

    def __init__(self, padding: float = 0.25, size: int | None = None, rgb_key: str | None = None,
                 key: str = "pose2d", min_side: float = 10.0):
        if padding < 0 or (size is not None and int(size) <= 0):
            raise RecipeError(f"pose2d.compact: padding must be >= 0 and size > 0 (or null), got {padding}, {size}")
        if rgb_key is not None and size is None:
            raise RecipeError("pose2d.compact: rgb_key needs size (the video is resized to size x size)")
        self.padding, self.size, self.rgb_key = float(padding), size and int(size), rgb_key
        self.key, self.min_side = key, float(min_side)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if sample.get(self.key) is None:
            return sample
        x = np.asarray(sample[self.key], dtype=np.float32)
        if x.ndim != 4 or x.shape[-1] < 2:
            raise DataError(f"pose2d.compact expects sample[{self.key!r}] of shape (M, T, V, 2 or 3), got {x.shape}")
        box = compact_box(x, self.padding, self.min_side)
        if box is None:
            return sample
        out = {**sample, self.key: self._move(x, box)}
        if self.rgb_key is not None and sample.get(self.rgb_key) is not None:
            out[self.rgb_key] = self._crop(np.asarray(sample[self.rgb_key]), box)
        return out

    def _move(self, x: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
        left, top, side = box
        scale = 1.0 if self.size is None else self.size / side
        present = np.any(x[..., :2] != 0, axis=-1, keepdims=True)  # missing joints stay (0, 0)
        moved = x.copy()
        moved[..., :2] = np.where(present, (x[..., :2] - np.array([left, top], dtype=np.float32)) * scale, 0.0)
        return moved

    def _crop(self, frames: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
        from torchvision.transforms.v2 import functional as TF  # torchvision costs ~2 s to import: only when cropping

        left, top, side = (int(round(v)) for v in box)
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
        clip = TF.resized_crop(clip, top, left, side, side, [self.size, self.size], antialias=True)
        return clip.permute(0, 2, 3, 1).contiguous().numpy()


SPEC = TransformSpec(name=Compact.name, factory=Compact, modality="pose2d", doc=Compact.__doc__.splitlines()[0])
