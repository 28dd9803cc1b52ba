"""Temporal corruption: drop frames of any time-series modality, so every method can be measured on broken input.

FineTec (Shao et al., AAAI 2026) evaluates on skeleton sequences in which only some frames survive and
the rest are zero-filled, removed by one of five masking strategies. The same corruption is useful for
every recipe, so it lives in the core and works on any dataset at evaluation time::

    eval:
      corruption: {type: suffix, ratio: 0.5}         # or {type: random, level: severe}

Mask types (``True`` = missing frame; exactly ``floor(ratio·T)`` frames are missing):

- ``random``: a random subset of frames.
- ``pattern``: evenly spread, periodic drops (frame ``t`` is missing when ``floor((t+1)·r) > floor(t·r)``,
  a Bresenham pattern; with ``r = 1/2`` every second frame).
- ``prefix``: the first frames; ``suffix``: the last frames.
- ``between``: one contiguous block in the middle of the sequence.
- ``any``: one of the five, drawn per sample.

The FineTec paper reports "various levels" with "severe" as the hardest but does not define them;
:data:`LEVELS` is a proposed, configurable placeholder (a ``levels`` mapping in the ``eval.corruption`` block overrides it).
Missing frames are set to 0 in place; the surviving frames keep their values and positions.

The transform corrupts the time axis of the modalities it finds in a sample: skeleton / pose2d
``(M, T, V, C)`` (axis 1), rgb ``(T, H, W, 3)``, depth ``(T, H, W)`` and pointcloud ``(T, N, F)``
(axis 0). Modalities with the same length share one mask, so multimodal samples lose the same frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fusion.errors import RecipeError

#: Mask strategy names (``any`` draws one of them per call).
MASK_TYPES = ("random", "pattern", "prefix", "suffix", "between")
#: Proposed missing-frame ratios per level (the paper's definitions were not published).
LEVELS: dict[str, float] = {"mild": 0.25, "moderate": 0.5, "severe": 0.75}


def time_axes(registry) -> dict[str, int]:
    """``{modality: time axis of its raw layout}`` for every registered temporal modality (``ModalitySpec.time_axis``)."""
    return {s.name: s.time_axis for s in registry.all_specs("modality") if s.time_axis is not None}


def missing_count(frames: int, ratio: float) -> int:
    """How many of ``frames`` frames a ratio removes: ``floor(ratio · frames)``."""
    return int(np.floor(float(ratio) * frames + 1e-9))


def frame_mask(kind: str, frames: int, ratio: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """(T,) bool mask of missing frames for one mask type; exactly ``floor(ratio·T)`` are True."""
    if not 0.0 <= ratio <= 1.0:
        raise RecipeError(f"corruption ratio must be within [0, 1], got {ratio}")
    rng = rng if rng is not None else np.random.default_rng(0)
    if kind == "any":
        kind = MASK_TYPES[int(rng.integers(len(MASK_TYPES)))]
    count = missing_count(frames, ratio)
    mask = np.zeros(frames, dtype=bool)
    if count == 0:
        return mask
    if kind == "random":
        mask[rng.choice(frames, size=count, replace=False)] = True
    elif kind == "pattern":
        t = np.arange(frames)
        step = np.floor((t + 1) * count / frames) - np.floor(t * count / frames)
        mask[step > 0] = True
    elif kind == "prefix":
        mask[:count] = True
    elif kind == "suffix":
        mask[frames - count:] = True
    elif kind == "between":
        start = (frames - count) // 2
        mask[start:start + count] = True
    else:
        raise RecipeError(f"unknown corruption type {kind!r}; known: {', '.join(MASK_TYPES + ('any',))}")
    return mask


def resolve_ratio(spec: Mapping) -> float:
    """The missing-frame ratio of a spec: ``ratio`` directly, or ``level`` looked up in ``levels``."""
    if "ratio" in spec and spec["ratio"] is not None:
        return float(spec["ratio"])
    levels = {**LEVELS, **(spec.get("levels") or {})}
    level = spec.get("level")
    if level not in levels:
        raise RecipeError(
            f"eval.corruption needs 'ratio' (0..1) or 'level' (one of {', '.join(levels)}), got {dict(spec)}"
        )
    return float(levels[level])


SPEC_KEYS = {"type", "ratio", "level", "levels", "modalities", "seed"}


class TemporalCorruption:
    """``transform(sample, rng) -> sample`` zeroing the same missing frames in every temporal modality.

    Args:
        type: one of :data:`MASK_TYPES` or ``any``.
        ratio: fraction of frames removed (or give ``level``).
        modalities: which sample keys to corrupt (default every temporal modality present).
        seed: used when called without a generator (``transform(sample)``).
        axes: time axis of each modality's raw layout (:func:`time_axes` of the recipe's registry).
    """

    def __init__(self, type: str = "random", ratio: float = 0.5, modalities: Sequence[str] | None = None, seed: int = 0,
                 axes: Mapping[str, int] | None = None):
        axes = dict(axes or {})
        if type not in MASK_TYPES + ("any",):
            raise RecipeError(f"eval.corruption.type: unknown {type!r}; known: {', '.join(MASK_TYPES + ('any',))}")
        if not 0.0 <= ratio <= 1.0:
            raise RecipeError(f"eval.corruption.ratio must be within [0, 1], got {ratio}")
        unknown = set(modalities or ()) - set(axes)
        if unknown:
            raise RecipeError(f"eval.corruption.modalities: no time axis known for {sorted(unknown)}; known: {', '.join(axes)}")
        self.type, self.ratio, self.seed, self.axes = type, float(ratio), seed, axes
        self.modalities = tuple(modalities) if modalities else tuple(axes)

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        kind = MASK_TYPES[int(rng.integers(len(MASK_TYPES)))] if self.type == "any" else self.type
        masks: dict[int, np.ndarray] = {}
        out = dict(sample)
        for key in self.modalities:
            if key not in sample or sample[key] is None:
                continue
            array = np.array(sample[key], copy=True)
            axis = self.axes[key]
            frames = array.shape[axis]
            if frames not in masks:
                masks[frames] = frame_mask(kind, frames, self.ratio, rng)
            index = [slice(None)] * array.ndim
            index[axis] = masks[frames]
            array[tuple(index)] = 0
            out[key] = array
        return out

    def __repr__(self) -> str:
        return f"TemporalCorruption(type={self.type!r}, ratio={self.ratio}, modalities={list(self.modalities)})"


def corruption_transform(spec: Mapping, axes: Mapping[str, int]) -> Callable[..., dict]:
    """Build the transform ``eval.corruption`` describes: ``{type, ratio | level, [levels], [modalities], [seed]}``;
    ``axes`` are the modalities' time axes (:func:`time_axes`)."""
    if not isinstance(spec, Mapping):
        raise RecipeError(f"eval.corruption must be a mapping like {{type: suffix, ratio: 0.5}}, got {spec!r}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise RecipeError(f"eval.corruption: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(SPEC_KEYS))}")
    return TemporalCorruption(
        type=spec.get("type", "random"), ratio=resolve_ratio(spec), modalities=spec.get("modalities"),
        seed=int(spec.get("seed", 0)), axes=axes,
    )


__all__ = ["MASK_TYPES", "LEVELS", "time_axes", "frame_mask", "missing_count", "corruption_transform",
           "TemporalCorruption", "resolve_ratio"]
