"""PYSKL's 3D skeleton pre-normalisation and random scaling (BRL's NTU pipeline).

``skeleton.pre_normalize_3d`` puts every clip in a body-centred frame: frames without the main
person are dropped (the person with more valid frames becomes the main one), joint ``center`` of
the first frame is the origin, then one rotation takes the spine (``z_axis`` joints, bottom → top)
to +z and a second takes the shoulder line (``x_axis`` joints) to +x.
``skeleton.random_scale`` multiplies each axis by ``1 + U(−s, s)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion.errors import DataError, RecipeError

from .transforms import SkeletonTransform, specs_of


def align_rotation(vector: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3 x 3 rotation taking the direction of ``vector`` onto ``target`` (Rodrigues, about their normal).

    A zero vector or one already along ``target`` gives the identity; an opposite one a half turn.
    """
    norm = np.linalg.norm(vector)
    if norm < 1e-6:
        return np.eye(3)
    a, b = vector / norm, target / np.linalg.norm(target)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-8:
        if cos > 0:
            return np.eye(3)
        ortho = np.eye(3)[np.argmin(np.abs(a))]  # any axis perpendicular to a
        axis = np.cross(a, ortho)
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = axis / sin
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * skew + (1 - cos) * skew @ skew


class PreNormalize3D(SkeletonTransform):
    """Main person first, invalid frames dropped, origin at ``center`` of frame 0, spine → +z, shoulders → +x."""

    name = "skeleton.pre_normalize_3d"

    def __init__(self, center: int = 1, z_axis: Sequence[int] = (0, 1), x_axis: Sequence[int] = (8, 4),
                 key: str = "skeleton"):
        super().__init__(key, score=False)
        if len(z_axis) != 2 or len(x_axis) != 2:
            raise RecipeError(f"{self.name}: z_axis and x_axis are (from, to) joint pairs, got {z_axis}, {x_axis}")
        self.center, self.z_axis, self.x_axis = int(center), tuple(map(int, z_axis)), tuple(map(int, x_axis))

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.shape[-1] != 3:
            raise DataError(f"{self.name}: needs 3D joints, sample[{self.key!r}] has {x.shape[-1]} channels")
        if max(self.center, *self.z_axis, *self.x_axis) >= x.shape[2]:
            raise DataError(f"{self.name}: joint indices {self.center}, {self.z_axis}, {self.x_axis} exceed V={x.shape[2]}")
        valid = np.any(x != 0, axis=(2, 3))  # (M, T)
        if not valid.any():
            return x
        main = int(np.argmax(valid.sum(1))) if x.shape[0] > 1 else 0  # ties keep person 0
        order = [main] + [m for m in range(x.shape[0]) if m != main]
        x = x[order][:, valid[main]]
        present = np.any(x != 0, axis=-1, keepdims=True)
        x = (x - x[0, 0, self.center]) * present
        bottom, top = x[0, 0, self.z_axis[0]], x[0, 0, self.z_axis[1]]
        x = x @ align_rotation(top - bottom, np.array([0.0, 0.0, 1.0])).T
        left, right = x[0, 0, self.x_axis[1]], x[0, 0, self.x_axis[0]]
        x = x @ align_rotation(right - left, np.array([1.0, 0.0, 0.0])).T
        return x.astype(np.float32)


class RandomScale(SkeletonTransform):
    """Scale each coordinate axis by ``1 + U(−scale, scale)`` (one draw per axis and clip)."""

    name = "skeleton.random_scale"

    def __init__(self, scale: float = 0.1, key: str = "skeleton", score: bool | None = None):
        super().__init__(key, score)
        if not 0 <= scale < 1:
            raise RecipeError(f"{self.name}: scale={scale}; expected 0 <= scale < 1")
        self.scale = float(scale)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.coords(x)
        out = x.copy()
        out[..., :c] *= (1 + rng.uniform(-self.scale, self.scale, size=c)).astype(np.float32)
        return out


SPECS = specs_of((PreNormalize3D, RandomScale))
