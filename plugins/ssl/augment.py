"""The self-supervised augmentation library: per-sample skeleton augmentations registered as ``ssl.*``.

Every augmentation is a transform in Fusion's sense (``Aug(**args)(sample, rng) -> sample`` on the raw
``(M, T, V, C)`` array, randomness only from ``rng``), built on the skeleton plugin's
:class:`~fusion_plugins.skeleton.transforms.SkeletonTransform`. Names and defaults:

=============================  =====================================================================
``skeleton.valid_crop_resize``  MAMP/HaLP valid-crop + linear resize (skeleton plugin; ``p_interval``,
                                ``min_frames``, ``frames``)
``skeleton.random_rotation``    random 3D rotation, angles U(−θ, θ), θ = 0.3 rad (skeleton plugin)
``ssl.rotate_main_axis``        AimCLR: one random main axis U(0, 30°), the others U(0, 1°)
``ssl.shear``                   shear, off-diagonals U(−r, r): r = 0.5 AimCLR family, r = 1 HaLP
``ssl.temporal_reflect_crop``   AimCLR: pad T//ratio mirrored frames at each end, random window of T
``ssl.lr_flip``                 left/right joint permutation (optionally mirroring an axis), prob. p
``ssl.gauss_noise``             additive N(0, σ²), σ = 0.01, prob. p
``ssl.gauss_blur_time``         Gaussian blur along time, kernel 15, σ ~ U[0.1, 2], prob. p
``ssl.axis_mask``               zero one random coordinate axis, prob. p
``ssl.time_flip``               reverse time, prob. p
``ssl.joint_zero``              HaLP: zero ``n`` = 15 random joints (all frames and persons)
``ssl.joint_linear_corrupt``    HaLP: multiply ``n`` = 15 random joints by a random 3×3 matrix U(−1, 1)
``ssl.one_of``                  apply one of several transform lists, chosen with probabilities ``p``
``ssl.views``                   build several views and stack them on the person axis (see below)
=============================  =====================================================================

Model-side maskers (learnable mask tokens, motion-aware token masking, body-region masking, graph
edge drop/add) act on batch tensors inside objectives: see :mod:`.masking`.

**Views.** ``ssl.views`` runs each of its ``views`` (lists of transform blocks, any registered
transform by name) on the same sample and concatenates the results on the person axis, so a batch
is ``(B, C, T, V, n·M)`` and :func:`.pretext.split_views` recovers the views. With ``growing: true``
view ``b`` applies the sets ``0 … b`` in order (HiCLR's policy: weak, weak, weak+strong, …), each
view with its own random draws. Pad persons (``skeleton.pad_persons``) before ``ssl.views``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion.construct import BuildContext
from fusion.errors import DataError, RecipeError
from fusion.types import TransformSpec
from fusion_plugins.skeleton.transforms import Flip, SkeletonTransform


def _probability(name: str, p: float) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise RecipeError(f"{name}: p must lie in [0, 1], got {p}")
    return float(p)


class RandomApply(SkeletonTransform):
    """Base of augmentations applied with probability ``p`` (the draw always happens, for reproducibility)."""

    def __init__(self, p: float = 1.0, key: str = "skeleton", score: bool | None = None):
        super().__init__(key, score)
        self.p = _probability(self.name, p)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return x
        return self.augment(x, rng)

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def linear(self, x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """``x ← R·x`` on the coordinate channels of every joint (score channel untouched)."""
        c = self.coords(x)
        if matrix.shape != (c, c):
            raise DataError(f"{self.name}: needs {matrix.shape[0]} coordinate channels, sample[{self.key!r}] has {c}")
        out = x.copy()
        out[..., :c] = x[..., :c] @ matrix.T.astype(np.float32)
        return out


class Shear(RandomApply):
    """Shear: ``x ← S·x`` with unit diagonal and off-diagonal entries U(−r, r) (AimCLR r = 0.5, HaLP r = 1)."""

    name = "ssl.shear"

    def __init__(self, r: float = 0.5, p: float = 1.0, key: str = "skeleton", score: bool | None = None):
        super().__init__(p, key, score)
        self.r = float(r)

    def augment(self, x, rng):
        c = self.coords(x)
        matrix = np.eye(c) + rng.uniform(-self.r, self.r, size=(c, c)) * (1 - np.eye(c))
        return self.linear(x, matrix)


def axis_rotation(axis: int, angle: float) -> np.ndarray:
    """The 3×3 rotation by ``angle`` (radians) about coordinate ``axis`` (AimCLR's sign convention)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [a for a in range(3) if a != axis]
    matrix = np.eye(3)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = c, s, -s, c
    return matrix


class RotateMainAxis(RandomApply):
    """AimCLR rotation: a random main axis turns by U(0, ``main_degrees``), the other two by U(0, ``other_degrees``).

    Rotations are applied about x, then y, then z, as AimCLR's ``random_rotate`` does.
    """

    name = "ssl.rotate_main_axis"

    def __init__(self, main_degrees: float = 30.0, other_degrees: float = 1.0, p: float = 1.0,
                 key: str = "skeleton", score: bool | None = None):
        super().__init__(p, key, score)
        self.main, self.other = float(main_degrees), float(other_degrees)

    def augment(self, x, rng):
        main = int(rng.integers(0, 3))
        limits = np.where(np.arange(3) == main, self.main, self.other)
        angles = np.radians(rng.uniform(0.0, 1.0, size=3) * limits)
        matrix = np.eye(3)
        for axis in range(3):
            matrix = axis_rotation(axis, angles[axis]) @ matrix
        return self.linear(x, matrix)


class TemporalReflectCrop(RandomApply):
    """AimCLR temporal crop: mirror-pad ``T // ratio`` frames at both ends, keep a random window of T frames."""

    name = "ssl.temporal_reflect_crop"

    def __init__(self, ratio: int = 6, p: float = 1.0, key: str = "skeleton"):
        super().__init__(p, key, score=False)
        if ratio < 1:
            raise RecipeError(f"{self.name}: ratio must be >= 1, got {ratio}")
        self.ratio = int(ratio)

    def augment(self, x, rng):
        t = x.shape[1]
        pad = t // self.ratio
        if pad == 0:
            return x
        padded = np.concatenate([x[:, :pad][:, ::-1], x, x[:, -pad:][:, ::-1]], axis=1)
        start = int(rng.integers(0, 2 * pad + 1))
        return np.ascontiguousarray(padded[:, start:start + t])


class LRFlip(Flip):
    """Left/right flip with probability ``p``: the layout's joint permutation (AimCLR's spatial flip).

    ``mirror_axis`` (e.g. 0) also negates that coordinate, making it a true mirror image; ``None``
    (default, AimCLR) only swaps the joints.
    """

    name = "ssl.lr_flip"

    def __init__(self, layout: str = "ntu25", p: float = 0.5, mirror_axis: int | None = None, key: str = "skeleton",
                 score: bool | None = None):
        super().__init__(layout, _probability(self.name, p), 0 if mirror_axis is None else mirror_axis, None, key, score)
        self.mirror = mirror_axis is not None

    def apply(self, x, rng):
        if self.mirror:
            return super().apply(x, rng)
        self.check_joints(x, self.layout)
        return x if rng.random() >= self.p else np.ascontiguousarray(x[:, :, self.permutation])


class GaussNoise(RandomApply):
    """Additive Gaussian noise N(0, σ²) on the coordinates with probability ``p`` (AimCLR σ = 0.01)."""

    name = "ssl.gauss_noise"

    def __init__(self, sigma: float = 0.01, p: float = 0.5, key: str = "skeleton", score: bool | None = None):
        super().__init__(p, key, score)
        self.sigma = float(sigma)

    def augment(self, x, rng):
        c = self.coords(x)
        out = x.copy()
        out[..., :c] += rng.normal(0.0, self.sigma, size=x[..., :c].shape).astype(np.float32)
        return out


class GaussBlurTime(RandomApply):
    """Gaussian blur along time (AimCLR): kernel ``kernel`` frames, σ ~ U[σ0, σ1], zero padding, prob. ``p``."""

    name = "ssl.gauss_blur_time"

    def __init__(self, kernel: int = 15, sigma: Sequence[float] = (0.1, 2.0), p: float = 0.5, key: str = "skeleton",
                 score: bool | None = None):
        super().__init__(p, key, score)
        if kernel < 1 or kernel % 2 == 0:
            raise RecipeError(f"{self.name}: kernel must be a positive odd number, got {kernel}")
        self.kernel, self.sigma = int(kernel), tuple(float(s) for s in sigma)

    def augment(self, x, rng):
        sigma = rng.uniform(*self.sigma)
        radius = self.kernel // 2
        taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
        taps /= taps.sum()
        t = x.shape[1]
        offset = np.arange(t)[None, :] - np.arange(t)[:, None]  # [out, in]: in − out
        band = np.where(np.abs(offset) <= radius, taps[np.clip(offset + radius, 0, 2 * radius)], 0.0)
        c = self.coords(x)
        out = x.copy()
        out[..., :c] = np.einsum("ts,msvc->mtvc", band.astype(np.float32), x[..., :c])
        return out


class AxisMask(RandomApply):
    """Zero one random coordinate axis (all joints, frames, persons) with probability ``p`` (AimCLR)."""

    name = "ssl.axis_mask"

    def __init__(self, p: float = 0.5, key: str = "skeleton", score: bool | None = None):
        super().__init__(p, key, score)

    def augment(self, x, rng):
        out = x.copy()
        out[..., int(rng.integers(0, self.coords(x)))] = 0
        return out


class TimeFlip(RandomApply):
    """Reverse the frame order with probability ``p``."""

    name = "ssl.time_flip"

    def __init__(self, p: float = 0.5, key: str = "skeleton"):
        super().__init__(p, key, score=False)

    def augment(self, x, rng):
        return np.ascontiguousarray(x[:, ::-1])


class JointZero(RandomApply):
    """HaLP joint corruption (zero branch): ``n`` random joints are zero in every frame and person."""

    name = "ssl.joint_zero"

    def __init__(self, n: int = 15, p: float = 1.0, key: str = "skeleton", score: bool | None = None):
        super().__init__(p, key, score)
        self.n = int(n)

    def augment(self, x, rng):
        joints = rng.choice(x.shape[2], size=min(self.n, x.shape[2]), replace=False)
        out = x.copy()
        out[:, :, joints, : self.coords(x)] = 0
        return out


class JointLinearCorrupt(RandomApply):
    """HaLP joint corruption (linear branch): ``n`` random joints are multiplied by one random matrix U(−1, 1)."""

    name = "ssl.joint_linear_corrupt"

    def __init__(self, n: int = 15, p: float = 1.0, key: str = "skeleton", score: bool | None = None):
        super().__init__(p, key, score)
        self.n = int(n)

    def augment(self, x, rng):
        c = self.coords(x)
        joints = rng.choice(x.shape[2], size=min(self.n, x.shape[2]), replace=False)
        matrix = rng.uniform(-1.0, 1.0, size=(c, c)).astype(np.float32)
        out = x.copy()
        out[:, :, joints, :c] = x[:, :, joints, :c] @ matrix.T
        return out


# ---------------------------------------------------------------------------------------- composition


def _pipeline(ctx: BuildContext | None, blocks, key: str) -> list:
    """A list of registered transforms from recipe blocks, built with the recipe's registry (``ctx``)."""
    if ctx is None:
        raise RecipeError(f"{key}: build composite transforms with fusion.construct.build, which passes ctx")
    return ctx.build_list("transform", blocks, key)


def _run(pipeline, sample: dict, rng: np.random.Generator) -> dict:
    for transform in pipeline:
        sample = transform(sample, rng)
    return sample


class OneOf:
    """Apply exactly one of ``choices`` (lists of transform blocks), picked with probabilities ``p``.

    HaLP's spatial augmentation is ``one_of([[joint corruption], [shear r=1]])`` with p = (0.5, 0.5),
    and its joint corruption ``one_of([[joint_zero], [joint_linear_corrupt]])``.
    """

    name = "ssl.one_of"

    def __init__(self, choices: Sequence[Sequence[dict]] = (), p: Sequence[float] | None = None,
                 ctx: BuildContext | None = None):
        if not choices:
            raise RecipeError(f"{self.name}: give at least one choice (a list of transform blocks)")
        self.choices = [_pipeline(ctx, c, f"choices[{i}]") for i, c in enumerate(choices)]
        p = np.full(len(choices), 1 / len(choices)) if p is None else np.asarray(p, dtype=np.float64)
        if p.shape != (len(choices),) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
            raise RecipeError(f"{self.name}: p must give one probability per choice, summing to 1; got {list(p)}")
        self.p = p

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        return _run(self.choices[int(rng.choice(len(self.choices), p=self.p))], sample, rng)


class Views:
    """Several augmented views of one sample, concatenated on the person axis ``(n·M, T, V, C)``.

    Args:
        views: one list of transform blocks per view (or per augmentation set, with ``growing``).
        growing: view ``b`` applies the sets ``0 … b`` in order (HiCLR's hierarchy of growing strength).
        key: the modality whose views are built (``skeleton``).
    """

    name = "ssl.views"

    def __init__(self, views: Sequence[Sequence[dict]] = ((), ()), growing: bool = False, key: str = "skeleton",
                 ctx: BuildContext | None = None):
        if len(views) < 1:
            raise RecipeError(f"{self.name}: give at least one view (a list of transform blocks)")
        sets = [_pipeline(ctx, v, f"views[{i}]") for i, v in enumerate(views)]
        self.pipelines = [sum(sets[: b + 1], []) for b in range(len(sets))] if growing else sets
        self.key = key

    @property
    def num_views(self) -> int:
        return len(self.pipelines)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if sample.get(self.key) is None:
            return sample
        arrays = [np.asarray(_run(p, sample, rng)[self.key], dtype=np.float32) for p in self.pipelines]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise DataError(
                f"{self.name}: the views of sample[{self.key!r}] have different shapes {sorted(shapes)}; "
                "end every view with transforms that fix T and M (e.g. skeleton.valid_crop_resize, skeleton.pad_persons)"
            )
        return {**sample, self.key: np.concatenate(arrays, axis=0)}


_AUGMENTATIONS = (Shear, RotateMainAxis, TemporalReflectCrop, LRFlip, GaussNoise, GaussBlurTime, AxisMask, TimeFlip,
                  JointZero, JointLinearCorrupt, OneOf, Views)

#: The composite transforms' arguments that are lists of lists of transform blocks (checked at recipe load).
_NESTED = {OneOf: {"choices": "transform[][]"}, Views: {"views": "transform[][]"}}

SPECS = [
    TransformSpec(name=t.name, factory=t, modality="skeleton", doc=(t.__doc__ or "").strip().splitlines()[0],
                  nested=_NESTED.get(t, {}))
    for t in _AUGMENTATIONS
]
