"""Which frames of a sequence a sample uses: all of them, uniform segments, or one contiguous clip.

Readers choose frames *before* decoding because decoding is the expensive part: a 1080p NTU video
is 100+ frames, a clip needs 8-32 of them. The same indices are applied to every modality of a
joined sample (skeleton, RGB, depth are frame-aligned in NTU), each clamped to its own length.

- ``uniform`` (TSN / PySKL ``UniformSampleFrames``): split the sequence into ``num`` equal
  segments; training takes a random frame in each, testing the centre of each. Shorter sequences
  repeat frames.
- ``clip`` (SlowFast / MMAction2 ``SampleFrames``): ``num`` frames ``stride`` apart from a random
  start (training) or the centred start (testing); frames past the end repeat the last frame.

A ``None`` generator means test mode (deterministic).
"""

from __future__ import annotations

import numpy as np

from fusion.errors import RecipeError
from fusion_plugins.rgb.transforms import uniform_sample_indices

SAMPLINGS = ("uniform", "clip")


def uniform_indices(total: int, num: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """One frame per equal segment: a random position in training, the centre in testing."""
    offsets = rng.random(num) if rng is not None else np.full(num, 0.5)
    return uniform_sample_indices(total, num, offsets)


def clip_indices(total: int, num: int, stride: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """``num`` frames ``stride`` apart from a random (training) or centred (testing) start."""
    span = (num - 1) * stride + 1
    room = max(total - span, 0)
    start = int(rng.integers(room + 1)) if rng is not None else room // 2
    return np.minimum(start + stride * np.arange(num), total - 1).astype(np.int64)


def sample_indices(total: int, num: int | None, mode: str = "uniform", stride: int = 1,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices into a sequence of ``total`` frames (all of them when ``num`` is None)."""
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    if num is None:
        return np.arange(total, dtype=np.int64)
    if mode == "uniform":
        return uniform_indices(total, num, rng)
    if mode == "clip":
        return clip_indices(total, num, stride, rng)
    raise RecipeError(f"frame sampling: sampling={mode!r} is unknown; expected one of {', '.join(SAMPLINGS)}")
