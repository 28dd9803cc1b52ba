"""How ``fusion data show`` draws joints (``ModalitySpec.draw`` of ``skeleton`` and ``pose2d``).

2D keypoints are pixels already. 3D joints are placed in the image with ``meta["intrinsics"]`` when those
describe the image drawn (their width and height match it), in the Kinect convention the built-in data
uses (``u = cx + fx x / z``, ``v = cy - fy y / z``; ``y_up: false`` flips v); otherwise they get a
front view (x, -y) in a panel of their own.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fusion.types import Drawing


def pose2d_joints(clip, meta: Mapping, image_size: tuple[int, int] | None) -> np.ndarray:
    """(M, T, V, 2) pixels of ``(M, T, V, 2 or 3)`` keypoints; a score <= 0 marks a joint missing (NaN)."""
    pose = np.asarray(clip, dtype=np.float64)
    xy = pose[..., :2].copy()
    if pose.shape[-1] > 2:
        xy[pose[..., 2] <= 0] = np.nan
    return xy


def skeleton_joints(clip, meta: Mapping, image_size: tuple[int, int] | None) -> np.ndarray | None:
    """(M, T, V, 2) pixels: 2D joints as they are, 3D joints projected with ``meta["intrinsics"]``; None when
    there are none or they describe another image than the one drawn (NTU: depth camera, no RGB calibration)."""
    skeleton = np.asarray(clip, dtype=np.float64)
    if skeleton.shape[-1] == 2:
        return skeleton
    k = meta.get("intrinsics")
    if not k or not all(key in k for key in ("fx", "fy", "cx", "cy")):
        return None
    if image_size is not None and (k.get("width"), k.get("height")) != tuple(image_size):
        return None
    z = skeleton[..., 2]
    valid = z > 1e-6
    zs = np.where(valid, z, 1.0)
    sign = -1.0 if k.get("y_up", True) else 1.0
    xy = np.stack([k["cx"] + k["fx"] * skeleton[..., 0] / zs, k["cy"] + sign * k["fy"] * skeleton[..., 1] / zs], -1)
    xy[~valid] = np.nan
    return xy


def skeleton_front(clip) -> np.ndarray:
    """(M, T, V, 2) front view (x, -y) of 3D joints; all-zero joints (padding) are NaN."""
    joints = np.asarray(clip, dtype=np.float64)
    return np.where((joints == 0).all(-1, keepdims=True), np.nan, joints[..., :2] * [1.0, -1.0])


#: Detected keypoints come before sensor joints when a sample has both.
POSE2D = Drawing(rank=40, joints=pose2d_joints, label="skeleton")
SKELETON = Drawing(rank=50, joints=skeleton_joints, front=skeleton_front, label="skeleton")
