"""``pose2d.flip``: mirror 2D keypoints and the video frames they were detected in, with one coin.

Flipping RGB and pose with two independent transforms would draw two coins and misalign the streams
half the time (EPAM-Net's heatmaps must stay on the RGB person). The keypoints take the layout's
left/right permutation and ``x → width − x`` (MMAction2's keypoint flip); frames under ``video_keys``
(raw ``(T, H, W[, C])`` arrays) are mirrored along W.
"""

from __future__ import annotations

import numpy as np

from fusion.errors import DataError
from fusion.types import TransformSpec

from .transforms import Flip


class PairedFlip:
    """Mirror ``pose2d`` (permutation + ``x → width − x``) and ``video_keys`` together with probability ``p``.

    Args:
        layout: keypoint layout (its ``flip`` permutation), e.g. ``coco17``.
        width: image width the keypoints are expressed in (after ``pose2d.compact``: its ``size``).
        p: flip probability.
        video_keys: frame arrays to mirror with the keypoints (``rgb``, ``depth``).
        key: the keypoint entry.
    """

    name = "pose2d.flip"

    def __init__(self, layout: str = "coco17", width: float = 224.0, p: float = 0.5,
                 video_keys: list[str] | tuple[str, ...] = ("rgb",), key: str = "pose2d"):
        self.keypoints = Flip(layout, p=1.0, axis=0, width=float(width), key=key, score=True)
        self.p, self.video_keys, self.key = float(p), tuple(video_keys), key

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.p:
            return sample
        out = self.keypoints(sample, rng)
        for key in self.video_keys:
            frames = sample.get(key)
            if frames is None:
                continue
            if np.ndim(frames) < 3:
                raise DataError(f"pose2d.flip expects sample[{key!r}] frames of shape (T, H, W[, C]), got {np.shape(frames)}")
            out[key] = np.ascontiguousarray(np.flip(frames, axis=2))
        return out


SPEC = TransformSpec(name=PairedFlip.name, factory=PairedFlip, modality="pose2d", doc=PairedFlip.__doc__.splitlines()[0])
