"""Skeleton input streams (modalities): joint, bone, motion, bone-motion, skip-bone.

All functions take channels-last arrays ``(..., T, V, C)`` (the raw sample layout ``(M, T, V, C)``,
or any batch of it), numpy or torch, and are vectorised with index arrays (no loops over joints or
frames). Definitions, as in CTR-GCN / pyskl:

- **joint**: the coordinates themselves.
- **bone**: ``b[v] = x[v] − x[parent(v)]``; the root is its own parent, so its bone is 0.
- **motion**: ``m[t] = x[t+1] − x[t]``; the last frame is 0.
- **bone_motion**: motion of the bone stream.
- **skip_bone**: ``s[v] = x[v] − x[parent(parent(v))]``, the vector to the grandparent (root and the
  root's children use the root, so the root's skip-bone is 0 and its children's equals their bone).
  It spans two bones, e.g. shoulder → wrist, which adds limb-level direction at no cost.

**2D + score** (``score=True``, last channel is a detector confidence, pyskl's rule): a bone's score
channel is the mean of its two joints' scores; a motion's is the mean of the scores at ``t`` and ``t+1``
(the last frame stays all-zero). Coordinates follow the formulas above.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from fusion.errors import RecipeError

Array = TypeVar("Array", np.ndarray, torch.Tensor)

#: Stream names :func:`compute_streams` and the ``skeleton.stream`` transform accept.
STREAMS = ("joint", "bone", "motion", "bone_motion", "skip_bone")


def _joints(x: Array, index: np.ndarray) -> Array:
    """``x[..., index, :]`` for numpy or torch (on the tensor's device)."""
    if isinstance(x, torch.Tensor):
        return x[..., torch.as_tensor(index, device=x.device), :]
    return x[..., index, :]


def _pair_difference(x: Array, other: Array, score: bool) -> Array:
    """``x − other``, except the score channel (if any), which becomes their mean."""
    out = x - other
    if score:
        out[..., -1] = (x[..., -1] + other[..., -1]) / 2
    return out


def joint(x: Array, parents: Sequence[int] | None = None, score: bool = False) -> Array:
    """The joint stream: ``x`` itself (a copy)."""
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def bone(x: Array, parents: Sequence[int], score: bool = False) -> Array:
    """``b[v] = x[v] − x[parent(v)]`` over the joint axis (-2); ``parents[root] == root``."""
    return _pair_difference(x, _joints(x, np.asarray(parents)), score)


def skip_bone(x: Array, parents: Sequence[int], score: bool = False) -> Array:
    """``s[v] = x[v] − x[parent(parent(v))]``: the bone to the grandparent."""
    parents = np.asarray(parents)
    return _pair_difference(x, _joints(x, parents[parents]), score)


def motion(x: Array, parents: Sequence[int] | None = None, score: bool = False) -> Array:
    """``m[t] = x[t+1] − x[t]`` over the frame axis (-3), last frame 0."""
    out = x * 0
    out[..., :-1, :, :] = _pair_difference(x[..., 1:, :, :], x[..., :-1, :, :], score)
    return out


def bone_motion(x: Array, parents: Sequence[int], score: bool = False) -> Array:
    """Motion of the bone stream."""
    return motion(bone(x, parents, score), score=score)


_FUNCTIONS = {"joint": joint, "bone": bone, "motion": motion, "bone_motion": bone_motion, "skip_bone": skip_bone}


def check_streams(streams: Sequence[str]) -> tuple[str, ...]:
    """Validate stream names; the error lists the known ones."""
    streams = (streams,) if isinstance(streams, str) else tuple(streams)
    unknown = [s for s in streams if s not in _FUNCTIONS]
    if unknown or not streams:
        raise RecipeError(f"unknown skeleton stream(s) {unknown or streams!r}; known: {', '.join(STREAMS)}")
    return streams


def compute_streams(x: Array, streams: Sequence[str], parents: Sequence[int], score: bool = False) -> Array:
    """The named streams of ``x`` concatenated along channels: C → len(streams)·C."""
    parts = [_FUNCTIONS[name](x, parents, score) for name in check_streams(streams)]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts, axis=-1) if isinstance(x, np.ndarray) else torch.cat(parts, dim=-1)
