"""The two-stack PointNet++ of UniPose's point-cloud branch, as C3P's ``pose_net_v2``.

Each stack is a PointNet++ encoder-decoder (3 set abstractions, 3 feature propagations) giving a
per-point feature, read by two heads: ``H`` (sigmoid closeness of each point to each joint) and ``V``
(a 3D direction from the point toward each joint). Stack 2 refines stack 1: its input is
``[input point channels, stack-1 point features, stack-1 H and V]``, on the same neighbourhoods. The
joint voting (``p + (1 - H) R / l * V``, top-k, weighted mean) and the oriented-bounding-box
normalisation of the input belong to the UniPose mixer, not to this encoder.

Official configuration (C3P ``config.py``): N = 2048 points x 6 channels (xyz + 3), 512 / 128 centroids,
k = 64 neighbours, SA MLPs (64, 64, 128), (128, 128, 256), (256, 512, 1024), FP MLPs (256, 256),
(256, 128), (128, 128, 128), heads 128 -> 128 -> J or 3J, 3-NN interpolation. C3P's ball query compares
*squared* distances with 0.015 and 0.04, i.e. radii sqrt(0.015) and sqrt(0.04) in the normalised frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.types import AuxField, EncoderSpec, Features
from fusion_plugins.pointcloud.ops import gather_points
from fusion_plugins.pointcloud.pointnet2 import (
    FeaturePropagation,
    GlobalAbstraction,
    SetAbstraction,
    pointwise,
    shared_mlp,
)

SA_MLPS = ((64, 64, 128), (128, 128, 256), (256, 512, 1024))
FP_MLPS = ((256, 256), (256, 128), (128, 128, 128))
C3P_RADII = (0.015**0.5, 0.04**0.5)

#: CPU-test configuration: 256 points, 64/16 centroids, k 8, MLPs / 8, J = 5.
SMALL = {
    "num_joints": 5,
    "num_centroids": (64, 16),
    "k": 8,
    "sa_mlps": ((8, 8, 16), (16, 16, 32), (32, 64, 128)),
    "fp_mlps": ((32, 32), (32, 16), (16, 16, 16)),
    "head_mlp": (16,),
}

Sampling = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class JointHead(nn.Sequential):
    """C3P ``net_G``: shared MLP -> Dropout(0.5) -> 1x1 conv to ``out_channels`` (-> sigmoid for closeness)."""

    def __init__(self, in_channels: int, mlp: Sequence[int], out_channels: int, sigmoid: bool):
        layers = [shared_mlp([in_channels, *mlp]), nn.Dropout(0.5), nn.Conv2d(mlp[-1], out_channels, 1)]
        super().__init__(*layers, *([nn.Sigmoid()] if sigmoid else []))


class PointNet2Stack(nn.Module):
    """One encoder-decoder: ``x (B, N, C)`` (xyz first) -> per-point features and ``hm (B, J, 4, N)``."""

    def __init__(
        self,
        in_channels: int,
        num_joints: int,
        num_centroids: Sequence[int],
        radii: Sequence[float],
        k: int,
        sa_mlps: Sequence[Sequence[int]],
        fp_mlps: Sequence[Sequence[int]],
        head_mlp: Sequence[int],
    ):
        super().__init__()
        self.num_joints = num_joints
        self.sa1 = SetAbstraction(in_channels, sa_mlps[0], num_centroids[0], radii[0], k)
        self.sa2 = SetAbstraction(3 + self.sa1.out_dim, sa_mlps[1], num_centroids[1], radii[1], k)
        self.sa3 = GlobalAbstraction(3 + self.sa2.out_dim, sa_mlps[2])
        self.fp1 = FeaturePropagation(self.sa3.out_dim + self.sa2.out_dim, fp_mlps[0])
        self.fp2 = FeaturePropagation(self.fp1.out_dim + self.sa1.out_dim, fp_mlps[1])
        self.fp3 = FeaturePropagation(self.fp2.out_dim + in_channels, fp_mlps[2])
        self.out_dim = self.fp3.out_dim
        self.heat = JointHead(self.out_dim, head_mlp, num_joints, sigmoid=True)
        self.vector = JointHead(self.out_dim, head_mlp, 3 * num_joints, sigmoid=False)

    def sample(self, xyz: torch.Tensor) -> Sampling:
        """Both levels' centroids and neighbourhoods (level 2 is sampled among level-1 centroids)."""
        level1 = self.sa1.sample(xyz)
        return level1, self.sa2.sample(gather_points(xyz, level1[0]))

    def forward(self, x: torch.Tensor, sampling: Sampling) -> tuple[torch.Tensor, torch.Tensor]:
        """``(point features (B, N, D), hm (B, J, 4, N))``: ``hm[:, :, 0]`` closeness H, ``hm[:, :, 1:]`` vector V."""
        xyz = x[..., :3]
        xyz1, feat1 = self.sa1(xyz, x[..., 3:], sampling[0])
        xyz2, feat2 = self.sa2(xyz1, feat1, sampling[1])
        _, global_feat = self.sa3(xyz2, feat2)
        feat2 = self.fp1(xyz2, None, feat2, global_feat.unsqueeze(1))
        feat1 = self.fp2(xyz1, xyz2, feat1, feat2)
        points = self.fp3(xyz, xyz1, x, feat1)
        batch, n = x.shape[:2]
        heat = pointwise(self.heat, points).transpose(1, 2).unsqueeze(2)  # (B, J, 1, N)
        vector = pointwise(self.vector, points).transpose(1, 2).reshape(batch, self.num_joints, 3, n)
        return points, torch.cat([heat, vector], dim=2)


#: Both stacks' per-point joint maps (C3P supervises both).
HM: AuxField[list[torch.Tensor]] = AuxField(
    "hm", "one (B, T, J, 4, N) map per stack: closeness H (channel 0), direction V (1-3)", "encoder 'pointnet2_two_stack'")


class TwoStackPointNet2(nn.Module):
    """C3P/UniPose two-stack PointNet++ encoder over a clip: ``(B, T, N, C)`` -> per-point Features.

    Defaults: the official configuration, J = 17 COCO joints (registered as ``pointnet2_two_stack``).

    Frames are independent (time folded into the batch). Features: ``points (B, T, N, D)`` (stack-2
    per-point features, D = 128), ``xyz (B, T, N, 3)``, ``frames (B, T, D)`` (max over points),
    ``pooled (B, D)`` and ``aux["hm"]``: one ``(B, T, J, 4, N)`` tensor per stack, channel 0 the
    closeness H in (0, 1), channels 1-3 the vector V (both stacks are supervised in C3P).
    """

    def __init__(
        self,
        in_channels: int = 6,
        num_joints: int = 17,
        num_centroids: Sequence[int] = (512, 128),
        radii: Sequence[float] = C3P_RADII,
        k: int = 64,
        sa_mlps: Sequence[Sequence[int]] = SA_MLPS,
        fp_mlps: Sequence[Sequence[int]] = FP_MLPS,
        head_mlp: Sequence[int] = (128,),
    ):
        super().__init__()
        shared = {"num_joints": num_joints, "num_centroids": tuple(num_centroids), "radii": tuple(radii), "k": k,
                  "sa_mlps": tuple(map(tuple, sa_mlps)), "fp_mlps": tuple(map(tuple, fp_mlps)), "head_mlp": tuple(head_mlp)}
        self.stack1 = PointNet2Stack(in_channels, **shared)
        self.stack2 = PointNet2Stack(in_channels + self.stack1.out_dim + 4 * num_joints, **shared)
        self.out_dim = self.stack2.out_dim

    def forward_points(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x (B, N, C)`` -> ``(stack-2 point features (B, N, D), [hm1, hm2] each (B, J, 4, N))``."""
        sampling = self.stack1.sample(x[..., :3])
        points1, hm1 = self.stack1(x, sampling)
        refined = torch.cat([x, points1, hm1.flatten(1, 2).transpose(1, 2)], dim=-1)
        points2, hm2 = self.stack2(refined, sampling)
        return points2, [hm1, hm2]

    def forward(self, x: torch.Tensor) -> Features:
        batch, frames, n, channels = x.shape
        points, hms = self.forward_points(x.reshape(batch * frames, n, channels))
        points = points.reshape(batch, frames, n, -1)
        per_frame = points.amax(dim=2)
        return Features(
            pooled=per_frame.mean(dim=1),
            frames=per_frame,
            points=points,
            xyz=x[..., :3],
            aux={HM.name: [hm.reshape(batch, frames, *hm.shape[1:]) for hm in hms]},
        )


#: Registered factory name; the class turns recipe lists into tuples itself.
pointnet2_two_stack = TwoStackPointNet2


SPEC = EncoderSpec(
    name="pointnet2_two_stack",
    factory=pointnet2_two_stack,
    modality="pointcloud",
    provides=frozenset({"pooled", "frames", "points", "xyz"}),
    aux=(HM,),
    doc="C3P/UniPose two-stack PointNet++ encoder-decoder: per-point features + joint closeness/direction maps.",
)
