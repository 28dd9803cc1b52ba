"""Three Kinect-like pinhole cameras around the actor, and the projections the formats need.

Camera frame, as Kinect v2 camera space: x to the sensor's left, y up, z forward (metres), so
``u = cx + fx * x / z`` and ``v = cy - fy * y / z`` (pixel u to the right, v down; like Kinect the
image is mirrored). Pixel (row i, column j) covers [j, j+1) x [i, i+1); its centre is (j + .5, i + .5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Camera number → azimuth in degrees (camera 1 in front of the actor, as NTU's cross-view split assumes).
AZIMUTHS: dict[int, float] = {1: 0.0, 2: -45.0, 3: 45.0}
DISTANCE = 3.0  # metres from the actor's spot
HEIGHT = 1.2  # camera height
LOOK_AT_HEIGHT = 1.0
VERTICAL_FOV = 55.0  # degrees
#: Kinect v2 depth (512x424) and colour (1920x1080) intrinsics, used for depthX/Y and colorX/Y in .skeleton files.
KINECT_DEPTH = {"fx": 365.5, "fy": 365.5, "cx": 256.0, "cy": 212.0, "width": 512, "height": 424}
KINECT_COLOR = {"fx": 1081.4, "fy": 1081.4, "cx": 960.0, "cy": 540.0, "width": 1920, "height": 1080}


@dataclass(frozen=True)
class Camera:
    number: int
    rotation: np.ndarray  # (3, 3) world → camera rows (x left, y up, z forward)
    centre: np.ndarray  # (3,) world position
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def intrinsics(self) -> dict:
        """Plain-dict intrinsics for sample meta (JSON-friendly)."""
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}

    def extrinsics(self) -> dict:
        return {"rotation": self.rotation.tolist(), "centre": self.centre.tolist()}

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world points → camera frame."""
        return (world - self.centre) @ self.rotation.T


def make_camera(number: int, size: int) -> Camera:
    """Camera ``number`` (1-3) for square images of ``size`` pixels, looking at the actor's spot."""
    az = np.deg2rad(AZIMUTHS[number])
    centre = np.array([DISTANCE * np.sin(az), HEIGHT, DISTANCE * np.cos(az)])
    forward = np.array([0.0, LOOK_AT_HEIGHT, 0.0]) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    focal = 0.5 * size / np.tan(np.deg2rad(VERTICAL_FOV / 2))
    return Camera(number, np.stack([-right, up, forward]), centre, focal, focal, size / 2, size / 2, size, size)


def make_cameras(size: int) -> dict[int, Camera]:
    return {n: make_camera(n, size) for n in AZIMUTHS}


def project(points: np.ndarray, k: dict) -> np.ndarray:
    """(..., 3) camera-frame points → (..., 2) pixel (u, v) with intrinsics dict ``k``."""
    z = np.maximum(points[..., 2], 1e-6)
    return np.stack([k["cx"] + k["fx"] * points[..., 0] / z, k["cy"] - k["fy"] * points[..., 1] / z], -1)


def backproject(u: np.ndarray, v: np.ndarray, z: np.ndarray, k: dict) -> np.ndarray:
    """Pixel coordinates and depth (metres) → (..., 3) camera-frame points; the inverse of :func:`project`."""
    return np.stack([(u - k["cx"]) * z / k["fx"], -(v - k["cy"]) * z / k["fy"], z], -1)
