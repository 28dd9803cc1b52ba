"""The ``onnx`` pose estimator on a tiny randomly initialised model exported here (Keypoint R-CNN's output contract)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fusion.errors import FusionError
from fusion.registry import get_registry

pytest.importorskip("onnxruntime")


class TinyKeypointNet(nn.Module):
    """Two persons: keypoints from a random conv's pooled features, at x ≈ 25% and 75% of the width.

    The second person's score is the image's mean brightness, so dark frames drop it.
    """

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.joints = nn.Linear(4, 17 * 2)
        self.register_buffer("centres", torch.tensor([[0.25, 0.5], [0.75, 0.5]])[:, None, :])

    def forward(self, image):  # (3, H, W) in 0..1
        h, w = image.shape[1], image.shape[2]
        feature = self.conv(image[None]).mean((2, 3))  # (1, 4)
        offset = torch.sigmoid(self.joints(feature)).reshape(1, 17, 2) * 0.1  # small spread
        xy = (self.centres + offset) * torch.stack([w, h]).to(torch.float32)
        keypoints = torch.cat([xy, torch.ones(2, 17, 1)], dim=-1)
        scores = torch.stack([torch.ones(()), image.mean()])
        return keypoints, scores, torch.full((2, 17), 3.0)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "tiny_pose.onnx"
    torch.onnx.export(TinyKeypointNet(), (torch.rand(3, 48, 64),), str(path), input_names=["image"],
                      output_names=["keypoints", "scores", "keypoints_scores"],
                      dynamic_axes={"image": {1: "h", 2: "w"}}, dynamo=False)
    return path


def test_onnx_estimator_tracks_and_filters(model_path):
    spec = get_registry().get("pose_estimator", "onnx_keypoints")
    estimator = spec.factory(layout="ntu25", max_persons=2, model_path=str(model_path))
    frames = np.full((4, 48, 64, 3), 200, np.uint8)
    frames[2] = 20  # dark: the second person's score drops under 0.5
    pose, meta = estimator(frames)
    assert pose.shape == (2, 4, 25, 3) and meta["layout"] == "ntu25"
    left, right = pose[0], pose[1]
    assert (left[..., 0] < 32).all() and (right[[0, 1, 3], :, 0] > 32).all()  # identities by position
    assert right[2].sum() == 0 and left[2, :, 2].min() > 0.9  # dropped in the dark frame; scores squashed logits


def test_onnx_estimator_needs_a_model_file(tmp_path):
    spec = get_registry().get("pose_estimator", "onnx_keypoints")
    with pytest.raises(FusionError, match="pose-model"):
        spec.factory(layout="coco17", max_persons=2, model_path=str(tmp_path / "missing.onnx"))
