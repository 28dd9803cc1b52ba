"""Per-sample skeleton transforms on raw numpy arrays ``(M, T, V, C)``, registered as ``skeleton.*``.

Each transform is a small class: ``Transform(**args)`` validates its arguments once (a recipe's
``args``), and ``transform(sample, rng)`` returns a new sample dict with ``sample[key]`` replaced
(``key`` is ``"skeleton"`` by default; ``"pose2d"`` works wherever it makes sense). A sample that lacks
the key passes through unchanged, because missing modalities are normal input. Randomness comes only
from the ``rng`` (numpy Generator) the dataset seeds per (seed, epoch, index). All work is vectorised.

The channel convention: ``score=True`` means the last channel is a detector confidence (pose2d's
``x, y, score``), which geometric transforms leave alone; ``score=None`` means "True for pose2d".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion.errors import DataError, RecipeError
from fusion.types import TransformSpec

from .layouts import get_layout
from .streams import check_streams, compute_streams


def count_valid_frames(x: np.ndarray) -> int:
    """Length up to the last frame with a non-zero value (trailing zero frames are padding).

    CTR-GCN's ``valid_frame_num`` counts the non-zero frames instead; the two agree when zeros only pad
    the end, but a frame the sensor dropped *inside* the clip would make the count cut off the last real
    frame (and a reversal would leave it in place), so the last non-zero index is used.
    """
    nonzero = np.flatnonzero(np.any(x != 0, axis=(0, 2, 3)))
    return int(nonzero[-1] + 1) if nonzero.size else 0


def resize_time(x: np.ndarray, frames: int) -> np.ndarray:
    """Linear resampling of ``(M, T, V, C)`` to ``frames`` frames (``F.interpolate`` with align_corners=False)."""
    length = x.shape[1]
    src = np.maximum((np.arange(frames) + 0.5) * (length / frames) - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), length - 1)
    hi = np.minimum(lo + 1, length - 1)
    w = (src - lo).astype(np.float32)[None, :, None, None]
    return ((1 - w) * x[:, lo] + w * x[:, hi]).astype(np.float32)


def rotation_matrix(angles: Sequence[float]) -> np.ndarray:
    """``Rz · Ry · Rx`` for angles (x, y, z) in radians, with CTR-GCN's ``_rot`` sign convention."""
    (cx, cy, cz), (sx, sy, sz) = np.cos(angles), np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


class SkeletonTransform:
    """Base: fetch and check ``sample[key]``, call :meth:`apply`, return a new sample dict."""

    name = "skeleton.transform"

    def __init__(self, key: str = "skeleton", score: bool | None = None):
        self.key = key
        self.score = key == "pose2d" if score is None else bool(score)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        x = sample.get(self.key)
        if x is None:
            return sample
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise DataError(f"{self.name} expects sample[{self.key!r}] of shape (M, T, V, C), got {x.shape}")
        return {**sample, self.key: self.apply(x, rng)}

    def coords(self, x: np.ndarray) -> int:
        """How many leading channels are coordinates (all but a score channel)."""
        return x.shape[-1] - int(self.score)

    def check_joints(self, x: np.ndarray, layout) -> None:
        if x.shape[2] != layout.num_joints:
            raise DataError(
                f"{self.name}: sample[{self.key!r}] has V={x.shape[2]} joints but layout {layout.name!r} has "
                f"{layout.num_joints}; set the transform's layout argument"
            )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Center(SkeletonTransform):
    """Translate so one joint of the first valid frame is the origin (SGN / CTR-GCN NTU preprocessing).

    The origin is ``joint`` (name or index; default the layout's ``origin``, NTU spine-mid) of the first
    person in the first frame where that person is non-zero. Every person and frame is shifted by it;
    all-zero (absent) person-frames stay zero.
    """

    name = "skeleton.center"

    def __init__(self, layout: str = "ntu25", joint: str | int | None = None, key: str = "skeleton",
                 score: bool | None = None):
        super().__init__(key, score)
        self.layout = get_layout(layout)
        self.joint = self.layout.origin if joint is None else self.layout.index(joint)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.check_joints(x, self.layout)
        present = np.any(x != 0, axis=(2, 3))  # (M, T)
        if not present.any():
            return x.copy()
        person = int(np.argmax(present.any(axis=1)))
        frame = int(np.argmax(present[person]))
        c = self.coords(x)
        out = x.copy()
        out[..., :c] -= x[person, frame, self.joint, :c]
        out[~present] = 0
        return out


class ValidCropResize(SkeletonTransform):
    """CTR-GCN's ``valid_crop_resize``: crop the valid (non-zero) frames, resize linearly to ``frames``.

    With two values in ``p_interval`` (training): ``p ~ U[p0, p1]``, crop length
    ``clip(floor(p·L), min_frames, L)`` at a random offset. With one value (test): a centre crop keeping
    that fraction (CTR-GCN uses 0.95). ``L`` counts frames with any non-zero value.
    """

    name = "skeleton.valid_crop_resize"

    def __init__(self, frames: int = 64, p_interval: Sequence[float] = (0.5, 1.0), min_frames: int = 64,
                 key: str = "skeleton"):
        super().__init__(key, score=False)
        p_interval = tuple(float(p) for p in np.atleast_1d(p_interval))
        if len(p_interval) not in (1, 2) or not all(0 < p <= 1 for p in p_interval) or p_interval != tuple(sorted(p_interval)):
            raise RecipeError(f"{self.name}: p_interval must be [p] or [low, high] within (0, 1], got {list(p_interval)}")
        if frames < 1:
            raise RecipeError(f"{self.name}: frames must be positive, got {frames}")
        self.frames, self.p_interval, self.min_frames = int(frames), p_interval, int(min_frames)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        valid = count_valid_frames(x)
        if valid == 0:
            return np.zeros((x.shape[0], self.frames, *x.shape[2:]), dtype=np.float32)
        if len(self.p_interval) == 1:
            bias = int((1 - self.p_interval[0]) * valid / 2)
            crop = x[:, bias:valid - bias]
        else:
            p = rng.uniform(*self.p_interval)
            length = min(max(int(np.floor(valid * p)), self.min_frames), valid)
            start = int(rng.integers(0, valid - length + 1))
            crop = x[:, start:start + length]
        return resize_time(crop, self.frames)


class RandomRotation(SkeletonTransform):
    """Rotate every frame and person by one random 3D rotation ``R = Rz·Ry·Rx``, angles ~ U(−θ, θ).

    CTR-GCN's ``random_rot`` (θ = 0.3 rad). For 2D coordinates only the in-plane (z) angle is used.
    """

    name = "skeleton.random_rotation"

    def __init__(self, theta: float = 0.3, key: str = "skeleton", score: bool | None = None):
        super().__init__(key, score)
        self.theta = float(theta)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angles = rng.uniform(-self.theta, self.theta, size=3)
        c = self.coords(x)
        if c not in (2, 3):
            raise DataError(f"{self.name}: needs 2 or 3 coordinate channels, sample[{self.key!r}] has {c}")
        rot = rotation_matrix(angles if c == 3 else (0.0, 0.0, angles[2]))[:c, :c]
        out = x.copy()
        out[..., :c] = x[..., :c] @ rot.T.astype(np.float32)
        return out


class Flip(SkeletonTransform):
    """Mirror left and right with probability ``p``: permute joints by the layout's flip, negate ``axis``.

    Negation mirrors about 0, right for centred coordinates; for pixel coordinates give ``width`` to map
    ``x → width − x`` (absent, all-zero joints stay zero).
    """

    name = "skeleton.flip"

    def __init__(self, layout: str = "ntu25", p: float = 0.5, axis: int = 0, width: float | None = None,
                 key: str = "skeleton", score: bool | None = None):
        super().__init__(key, score)
        self.layout, self.p, self.axis, self.width = get_layout(layout), float(p), int(axis), width
        self.permutation = np.asarray(self.layout.flip)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.check_joints(x, self.layout)
        if rng.random() >= self.p:
            return x
        out = x[:, :, self.permutation].copy()
        if self.width is None:
            out[..., self.axis] *= -1
        else:
            present = np.any(out[..., : self.coords(x)] != 0, axis=-1)
            out[..., self.axis] = np.where(present, self.width - out[..., self.axis], 0)
        return out


class Stream(SkeletonTransform):
    """Replace the joints by the concatenation of streams (``[joint, bone]`` → 2·C channels).

    ``bones="stream"`` uses the layout's bone-stream parents (pyskl's pairs where they differ from the
    graph), ``"graph"`` the graph's tree. See :mod:`fusion_plugins.skeleton.streams`.
    """

    name = "skeleton.stream"

    def __init__(self, streams: Sequence[str] = ("joint", "bone"), layout: str = "ntu25", bones: str = "stream",
                 key: str = "skeleton", score: bool | None = None):
        super().__init__(key, score)
        self.streams = check_streams(streams)
        self.layout = get_layout(layout)
        if bones not in ("stream", "graph"):
            raise RecipeError(f"{self.name}: bones must be 'stream' or 'graph', got {bones!r}")
        self.parents = self.layout.stream_parents() if bones == "stream" else self.layout.parents()

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.check_joints(x, self.layout)
        return compute_streams(x, self.streams, self.parents, self.score).astype(np.float32)


class Channels(SkeletonTransform):
    """Keep the listed channels, in order (``[0, 1]`` drops a 2D pose's score: SkeletonMAE reads x, y only)."""

    name = "skeleton.channels"

    def __init__(self, keep: Sequence[int] = (0, 1), key: str = "skeleton"):
        super().__init__(key, score=False)
        self.keep = [int(c) for c in keep]
        if not self.keep:
            raise RecipeError(f"{self.name}: keep lists no channel")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if max(self.keep) >= x.shape[-1]:
            raise DataError(f"{self.name}: keep={self.keep} but sample[{self.key!r}] has {x.shape[-1]} channels")
        return x[..., self.keep]


class PadPersons(SkeletonTransform):
    """Zero-pad (or truncate, keeping the first) persons to exactly ``persons``, so samples collate."""

    name = "skeleton.pad_persons"

    def __init__(self, persons: int = 2, key: str = "skeleton"):
        super().__init__(key, score=False)
        self.persons = int(persons)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.shape[0] >= self.persons:
            return x[: self.persons]
        pad = np.zeros((self.persons - x.shape[0], *x.shape[1:]), dtype=np.float32)
        return np.concatenate([x, pad], axis=0)


class UniformSample(SkeletonTransform):
    """Fixed length by uniform segments (pyskl ``UniformSampleFrames``): one frame per segment.

    The valid frames are cut into ``frames`` equal segments; training (``random=True``) picks a random
    frame in each, test the middle one. Shorter clips repeat frames.
    """

    name = "skeleton.uniform_sample"

    def __init__(self, frames: int = 64, random: bool = True, key: str = "skeleton"):
        super().__init__(key, score=False)
        self.frames, self.random = int(frames), bool(random)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        valid = count_valid_frames(x)
        if valid == 0:
            return np.zeros((x.shape[0], self.frames, *x.shape[2:]), dtype=np.float32)
        segment = valid / self.frames
        offset = rng.random(self.frames) if self.random else np.full(self.frames, 0.5)
        index = np.minimum(np.floor((np.arange(self.frames) + offset) * segment).astype(np.int64), valid - 1)
        return x[:, index]


_TRANSFORMS = (Center, ValidCropResize, RandomRotation, Flip, Stream, Channels, PadPersons, UniformSample)

def specs_of(classes) -> list[TransformSpec]:
    """Registry entries for skeleton transform classes (name and first docstring line)."""
    return [TransformSpec(name=t.name, factory=t, modality="skeleton", doc=(t.__doc__ or "").strip().splitlines()[0])
            for t in classes]


SPECS = specs_of(_TRANSFORMS)
