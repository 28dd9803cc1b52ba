"""Cross-modality input for the point-cloud branch: how close each point lies to each 2D detection.

UniPose couples its point-cloud network with the 2D detector ("cross-modality interaction", not
specified; [INF]). Here every point is projected into the image and gets one channel
per joint, ``score_j exp(-|proj(p_i) - u_j|^2 / (2 sigma^2))``: a 2D heatmap read at the point. The
network then sees which points lie on which joint's ray, and the voting can start from those points
(``UniPosePointCloud(detection_channels=J)``), i.e. from a point-cloud version of the naive lift.

The transform ``unipose.detection_heat`` appends the channels to ``pointcloud (T, N, 3 + F)`` from the
sample's ``pose2d (M, T, V, 3)`` and ``meta['intrinsics']``; register it with ``plugins:
[fusion_plugins.unipose.plugin]`` in the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fusion.errors import ContractError, RecipeError
from fusion.types import TransformSpec
from fusion_plugins.unipose.geometry import INTRINSIC_KEYS


def project_points(points: np.ndarray, k: Mapping, y_up: bool = True) -> np.ndarray:
    """Camera points ``(..., 3)`` metres -> pixels ``(..., 2)`` (same convention as :func:`.geometry.project`)."""
    z = np.maximum(points[..., 2], 1e-6)
    sign = -1.0 if y_up else 1.0
    return np.stack([k["cx"] + k["fx"] * points[..., 0] / z, k["cy"] + sign * k["fy"] * points[..., 1] / z], axis=-1)


def point_heat(points: np.ndarray, keypoints: np.ndarray, k: Mapping, sigma: float, y_up: bool = True) -> np.ndarray:
    """``points (T, N, 3)`` and ``keypoints (T, V, 3)`` (x, y, score) -> heat ``(T, N, V)`` in [0, 1].

    Points at the origin (padding, no depth reading) get 0.
    """
    pixels = project_points(points, k, y_up)  # (T, N, 2)
    distance2 = ((pixels[:, :, None] - keypoints[:, None, :, :2]) ** 2).sum(-1)  # (T, N, V)
    heat = keypoints[:, None, :, 2] * np.exp(-distance2 / (2.0 * sigma * sigma))
    real = np.abs(points).sum(-1, keepdims=True) > 0
    return np.where(real, heat, 0.0).astype(np.float32)


class DetectionHeat:
    """``sample -> sample`` with ``pointcloud`` extended by ``V`` per-joint heat channels (see module doc)."""

    def __init__(self, sigma: float = 1.5, y_up: bool = True, person: int = 0, pose_key: str = "pose2d"):
        if not sigma > 0:
            raise RecipeError(f"unipose.detection_heat: sigma={sigma!r} must be a positive number of pixels")
        self.sigma, self.y_up, self.person, self.pose_key = float(sigma), bool(y_up), int(person), pose_key

    def __call__(self, sample: dict, rng=None) -> dict:
        if "pointcloud" not in sample or self.pose_key not in sample:
            raise ContractError(f"unipose.detection_heat needs 'pointcloud' and {self.pose_key!r} in the sample; "
                                f"add both to data.modalities (the sample has {', '.join(k for k in sample if k != 'meta')})")
        k = (sample.get("meta") or {}).get("intrinsics")
        if not isinstance(k, Mapping) or any(key not in k for key in INTRINSIC_KEYS):
            raise ContractError(f"unipose.detection_heat: sample meta['intrinsics'] must hold {', '.join(INTRINSIC_KEYS)}")
        points = np.asarray(sample["pointcloud"], dtype=np.float32)
        pose = np.asarray(sample[self.pose_key], dtype=np.float32)
        if pose.ndim != 4 or pose.shape[-1] < 3 or pose.shape[1] != points.shape[0]:
            raise ContractError(f"unipose.detection_heat: {self.pose_key} must be (M, T, V, 3) with T = {points.shape[0]} "
                                f"(the point cloud's frames), got {pose.shape}")
        heat = point_heat(points[..., :3], pose[self.person], k, self.sigma, self.y_up)
        return {**sample, "pointcloud": np.concatenate([points, heat], axis=-1)}


TRANSFORMS = [
    TransformSpec(name="unipose.detection_heat", factory=DetectionHeat, modality="pointcloud",
                  doc="UniPose cross-modality input: per-point heat of each 2D detection, appended to the point cloud."),
]
