"""Stand-ins for predict tests: a pose estimator placing joints by frame brightness, tiny video-like encoders.

Listed under a test recipe's ``plugins:`` so the video → pose → model path is tested without a
real estimator (tests/pose covers MediaPipe on a real video), and depth / point-cloud / RGB runs
train in a second.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fusion import EncoderSpec, Features, PoseEstimatorSpec, hookimpl


class BrightnessPose:
    def __init__(self, layout: str = "coco17", max_persons: int = 2, model_path: str | None = None):
        self.layout, self.max_persons = layout, max_persons

    def reset(self) -> None:
        pass

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, dict]:
        level = frames.reshape(len(frames), -1).mean(1).astype(np.float32)  # (T,)
        pose = np.zeros((self.max_persons, len(frames), 17, 3), np.float32)
        pose[0, :, :, 0] = level[:, None] + np.arange(17)
        pose[0, :, :, 1] = 2 * level[:, None]
        pose[0, :, :, 2] = 1.0
        return pose, {"layout": self.layout, "bones": [(1, 0), (2, 0)]}


def fake_pose(layout: str = "coco17", max_persons: int = 2, model_path: str | None = None) -> BrightnessPose:
    return BrightnessPose(layout, max_persons, model_path)


@hookimpl
def fusion_add_pose_estimators():
    return [PoseEstimatorSpec(name="fake_pose", factory=fake_pose, native_layout="coco17", doc="Test stand-in.")]


class MeanEncoder(nn.Module):
    """Per-frame mean and spread of any (B, T, ...) or (B, C, T, ...) tensor, through a linear layer."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.net = nn.Linear(2, dim)
        self.out_dim = dim

    def forward(self, x):
        flat = x.float().reshape(x.shape[0], -1)
        return Features(pooled=self.net(torch.stack([flat.mean(1), flat.std(1)], 1)))


@hookimpl
def fusion_add_encoders():
    return [EncoderSpec(name=f"mean_{m}", factory=MeanEncoder, modality=m, doc="Test stand-in.")
            for m in ("depth", "pointcloud", "rgb")]
