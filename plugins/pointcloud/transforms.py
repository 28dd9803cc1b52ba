"""Point-cloud transforms (``pointcloud.*``) on raw ``(T, N, 3 + F)`` float32 clips, xyz first.

Geometry (rotation, normalisation) is shared by all frames of a clip so motion is preserved; sampling
is per frame. Points whose xyz are all zero are treated as padding (depth holes back-projected to the
camera centre) and are never sampled unless a frame has nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fusion.errors import RecipeError
from fusion.types import TransformSpec
from fusion_plugins.pointcloud.ops import farthest_point_sample

SAMPLE_METHODS = ("random", "fps")
AXES = {"x": 0, "y": 1, "z": 2}


def _clip(sample: dict) -> np.ndarray | None:
    clip = sample.get("pointcloud")
    return None if clip is None else np.asarray(clip, dtype=np.float32)


class Sample:
    """A fixed ``num_points`` per frame: random or farthest-point subset, padded by repeating points."""

    def __init__(self, num_points: int, method: str = "random"):
        if method not in SAMPLE_METHODS:
            raise RecipeError(f"pointcloud.sample: method={method!r} is unknown; expected one of {', '.join(SAMPLE_METHODS)}")
        self.num_points, self.method = num_points, method

    def frame_indices(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        valid = np.flatnonzero(np.any(frame[:, :3] != 0, axis=1))
        if valid.size == 0:
            valid = np.arange(frame.shape[0])
        if valid.size <= self.num_points:  # keep all, repeat random ones to fill
            extra = rng.choice(valid, self.num_points - valid.size, replace=True)
            return np.concatenate([valid, extra])
        if self.method == "random":
            return rng.choice(valid, self.num_points, replace=False)
        xyz = torch.from_numpy(np.ascontiguousarray(frame[valid, :3]))[None]
        start = torch.tensor([int(rng.integers(valid.size))])
        return valid[farthest_point_sample(xyz, self.num_points, start)[0].numpy()]

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        clip = _clip(sample)
        if clip is None:
            return sample
        return {**sample, "pointcloud": np.stack([frame[self.frame_indices(frame, rng)] for frame in clip])}


class Jitter:
    """Add Gaussian noise (std ``sigma`` m, clipped to ``+-clip``) to the xyz of valid points."""

    def __init__(self, sigma: float = 0.01, clip: float = 0.05):
        self.sigma, self.clip = sigma, clip

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        clip = _clip(sample)
        if clip is None:
            return sample
        noise = np.clip(rng.normal(0.0, self.sigma, clip[..., :3].shape), -self.clip, self.clip)
        valid = np.any(clip[..., :3] != 0, axis=-1, keepdims=True)
        out = clip.copy()
        out[..., :3] += (noise * valid).astype(np.float32)
        return {**sample, "pointcloud": out}


def rotation_matrix(angle: float, axis: str) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about ``axis``."""
    c, s = math.cos(angle), math.sin(angle)
    i, j = [a for a in range(3) if a != AXES[axis]]
    matrix = np.eye(3, dtype=np.float32)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = c, -s, s, c
    return matrix


class Rotate:
    """Rotate the clip about the vertical axis (camera ``y``) by a uniform angle in ``+-max_angle`` radians.

    Features that are vectors in xyz (normals in channels 3-5) are rotated too when ``rotate_normals``.
    """

    def __init__(self, max_angle: float = math.pi, axis: str = "y", rotate_normals: bool = False):
        if axis not in AXES:
            raise RecipeError(f"pointcloud.rotate: axis={axis!r} is unknown; expected one of x, y, z")
        self.max_angle, self.axis, self.rotate_normals = max_angle, axis, rotate_normals

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        clip = _clip(sample)
        if clip is None:
            return sample
        matrix = rotation_matrix(rng.uniform(-self.max_angle, self.max_angle), self.axis)
        out = clip.copy()
        out[..., :3] = clip[..., :3] @ matrix.T
        if self.rotate_normals and clip.shape[-1] >= 6:
            out[..., 3:6] = clip[..., 3:6] @ matrix.T
        return {**sample, "pointcloud": out}


class Normalize:
    """Centre on the valid points' centroid and scale so the farthest lies at distance 1.

    One centre and scale for the whole clip by default (motion kept); ``per_frame`` normalises frames
    separately. Padding points (all-zero xyz) stay zero.
    """

    def __init__(self, per_frame: bool = False):
        self.per_frame = per_frame

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        clip = _clip(sample)
        if clip is None:
            return sample
        xyz = clip[..., :3]
        valid = np.any(xyz != 0, axis=-1, keepdims=True)
        axes = (1,) if self.per_frame else (0, 1)
        count = np.maximum(valid.sum(axis=axes, keepdims=True), 1)
        centre = (xyz * valid).sum(axis=axes, keepdims=True) / count
        radius = np.where(valid, np.linalg.norm(xyz - centre, axis=-1, keepdims=True), 0).max(axis=axes, keepdims=True)
        out = clip.copy()
        out[..., :3] = (xyz - centre) / np.maximum(radius, 1e-6) * valid
        return {**sample, "pointcloud": out}


def pointcloud_sample(num_points: int, method: str = "random") -> Sample:
    """Fixed ``num_points`` per frame by ``random`` or ``fps`` sampling; short frames padded by repetition."""
    return Sample(num_points, method)


def pointcloud_jitter(sigma: float = 0.01, clip: float = 0.05) -> Jitter:
    return Jitter(sigma, clip)


def pointcloud_rotate(max_angle: float = math.pi, axis: str = "y", rotate_normals: bool = False) -> Rotate:
    return Rotate(max_angle, axis, rotate_normals)


def pointcloud_normalize(per_frame: bool = False) -> Normalize:
    return Normalize(per_frame)


SPECS = [
    TransformSpec(name="pointcloud.sample", factory=pointcloud_sample, modality="pointcloud",
                  doc="Fixed number of points per frame (random or FPS); pad by repetition."),
    TransformSpec(name="pointcloud.jitter", factory=pointcloud_jitter, modality="pointcloud",
                  doc="Clipped Gaussian noise on xyz."),
    TransformSpec(name="pointcloud.rotate", factory=pointcloud_rotate, modality="pointcloud",
                  doc="Random rotation of the clip about the vertical (camera y) axis."),
    TransformSpec(name="pointcloud.normalize", factory=pointcloud_normalize, modality="pointcloud",
                  doc="Centre on the centroid, scale into the unit sphere (per clip by default)."),
]
