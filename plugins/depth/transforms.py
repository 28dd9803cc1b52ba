"""Depth transforms (``depth.*``) on raw ``(T, H, W)`` uint16 millimetre maps: the video frame transforms
with nearest interpolation, so a hole (0, no reading) never blends with its neighbours into a fake
surface, and the output stays uint16. Normalisation is done by the depth encoders (see ``encoders``).
"""

from __future__ import annotations

from collections.abc import Sequence

from fusion.types import TransformSpec
from fusion_plugins.rgb.transforms import CenterCrop, Flip, RandomResizedCrop, Resize, Size, UniformSample

NEAREST = "nearest"


def depth_resize(size: Size) -> Resize:
    """Resize depth maps with nearest interpolation; an int scales the shorter side."""
    return Resize("depth", size, NEAREST)


def depth_random_resized_crop(
    size: Size, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3)
) -> RandomResizedCrop:
    return RandomResizedCrop("depth", size, scale, ratio, NEAREST)


def depth_center_crop(size: Size) -> CenterCrop:
    return CenterCrop("depth", size)


def depth_flip(p: float = 0.5) -> Flip:
    return Flip("depth", p)


def depth_uniform_sample(num_frames: int, train: bool = True, keys: Sequence[str] = ("depth",)) -> UniformSample:
    return UniformSample(num_frames, train, keys)


SPECS = [
    TransformSpec(name="depth.resize", factory=depth_resize, modality="depth", doc="Resize depth, nearest; keeps uint16."),
    TransformSpec(name="depth.random_resized_crop", factory=depth_random_resized_crop, modality="depth",
                  doc="Random area/aspect crop per clip, nearest resize."),
    TransformSpec(name="depth.center_crop", factory=depth_center_crop, modality="depth", doc="Central crop."),
    TransformSpec(name="depth.flip", factory=depth_flip, modality="depth", doc="Horizontal flip of the clip, prob p."),
    TransformSpec(name="depth.uniform_sample", factory=depth_uniform_sample, modality="depth",
                  doc="num_frames by uniform segments (random offset if train, centre otherwise)."),
]
