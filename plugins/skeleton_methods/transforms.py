"""Hyper-GCN's input modalities: the root-relative joint stream and the bone stream with an absolute root.

Hyper-GCN (after Hyperformer) feeds joints relative to the centre joint (NTU: spine-shoulder, index 20)
and writes the centre's absolute trajectory back into its own slot, so the model sees both the pose and
where the body goes. Its bone stream uses the graph's tree (hand convention B) and likewise overwrites
the centre's (zero) bone with the absolute centre position. ``motion`` / ``bone_motion`` are the frame
differences of those two streams (last frame 0).
"""

from __future__ import annotations

import numpy as np

from fusion.errors import RecipeError
from fusion.types import TransformSpec
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.skeleton.streams import bone, motion
from fusion_plugins.skeleton.transforms import SkeletonTransform


def root_relative(x: np.ndarray, root: int) -> np.ndarray:
    """``x − x[root]`` per frame and person, with ``x[root]`` itself kept absolute. ``x``: (..., T, V, C)."""
    out = x - x[..., root:root + 1, :]
    out[..., root, :] = x[..., root, :]
    return out


class HyperGCNStream(SkeletonTransform):
    """One Hyper-GCN stream: ``joint`` (root-relative), ``bone`` (absolute root), ``motion``, ``bone_motion``."""

    name = "hypergcn.stream"
    STREAMS = ("joint", "bone", "motion", "bone_motion")

    def __init__(self, stream: str = "joint", layout: str = "ntu25_b", key: str = "skeleton"):
        super().__init__(key, score=False)
        if stream not in self.STREAMS:
            raise RecipeError(f"{self.name}: unknown stream {stream!r}; known: {', '.join(self.STREAMS)}")
        self.stream, self.layout = stream, get_layout(layout)
        self.parents = self.layout.parents()

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.check_joints(x, self.layout)
        root = self.layout.centre
        if self.stream.startswith("bone"):
            base = bone(x, self.parents)
            base[..., root, :] = x[..., root, :]
        else:
            base = root_relative(x, root)
        return (motion(base) if self.stream.endswith("motion") else base).astype(np.float32)


SPECS = [TransformSpec(name=HyperGCNStream.name, factory=HyperGCNStream, modality="skeleton",
                       doc="Hyper-GCN streams: root-relative joints, bones with absolute root, their motions.")]
