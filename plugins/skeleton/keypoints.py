"""Raw 2D keypoints as joint features: the pose input of token mixers (3D deformable transformer).

The 3D deformable cross-modal transformer ([INF]) makes its pose tokens from each
joint's ``(x, y, score)`` with a linear layer; this parameter-free ``pose2d`` encoder only puts the
keypoints into the ``joints`` layout ``(B, 3, T, V)``: pixel coordinates scaled to [-1, 1] by the image
size (so they match a video map covering the same box) and persons merged by keeping, per frame, the
most confident one (summed joint scores).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.errors import ContractError
from fusion.types import EncoderSpec, Features


def most_confident_person(keypoints: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, V, M)`` -> ``(B, C, T, V)``: per frame the person with the largest summed score (channel 2)."""
    if keypoints.shape[-1] == 1:
        return keypoints[..., 0]
    best = keypoints[:, 2].sum(dim=2).argmax(dim=-1)  # (B, T)
    index = best[:, None, :, None, None].expand(-1, keypoints.shape[1], -1, keypoints.shape[3], 1)
    return keypoints.gather(-1, index)[..., 0]


class PoseKeypoints(nn.Module):
    """``pose2d (B, 3, T, V, M)`` -> Features(joints ``(B, 3, T, V)``: x, y in [-1, 1], score); no parameters.

    Args:
        num_joints: V, checked against the batch.
        image_size: ``(H, W)`` of the frames the keypoint pixels refer to.
    """

    def __init__(self, num_joints: int = 17, image_size: Sequence[int] = (224, 224)):
        super().__init__()
        self.num_joints, self.image_size = num_joints, tuple(image_size)
        self.out_dim = 3

    def forward(self, keypoints: torch.Tensor) -> Features:
        if keypoints.dim() != 5 or keypoints.shape[1] != 3 or keypoints.shape[3] != self.num_joints:
            raise ContractError(
                f"pose_keypoints: tensor 'pose2d' must be pose2d (B, 3, T, V={self.num_joints}, M), got {tuple(keypoints.shape)}"
            )
        joints = most_confident_person(keypoints)
        height, width = self.image_size
        scale = joints.new_tensor([2.0 / width, 2.0 / height, 1.0]).view(1, 3, 1, 1)
        shift = joints.new_tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1)
        return Features(joints=joints * scale - shift)

    def extra_repr(self) -> str:
        return f"joints={self.num_joints}, image_size={self.image_size}"


SPEC = EncoderSpec(
    name="pose_keypoints",
    factory=PoseKeypoints,
    modality="pose2d",
    provides=frozenset({"joints"}),
    doc="Parameter-free: pose2d keypoints -> joints (B, 3, T, V) = (x, y in [-1, 1], score), most confident person.",
)
