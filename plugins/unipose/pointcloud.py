"""UniPose's point-cloud branch: OBB normalisation -> two-stack PointNet++ -> joint voting -> camera frame.

Follows C3P's ``pose_pointnet``: each frame's points are rotated into their oriented
bounding box, scaled by its longest side ``l`` and centred; the two-stack network (the registered
``pointnet2_two_stack`` encoder) predicts closeness ``H`` and directions ``V`` per point and joint;
both stacks' maps are decoded into joints (:func:`vote_joints`) and mapped back to the camera,
``X = ((y + o) l) R^T``. Trained without 3D labels by the ``unipose_lift`` objective.

Cross-modality (proposed, [INF]): with ``detection_channels = J`` the last J point channels are the 2D
detections' heat at each point (transform ``unipose.detection_heat``). The network reads them, and the
votes are chosen and weighted by ``H * (heat + floor)``; the closeness heads start near 1 (short
reach), so before training each joint is the heat-weighted mean of the points on its detection's
ray: a point-cloud version of the naive lift, which the weak losses then refine.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.construct import BuildContext, create_encoder
from fusion.errors import ContractError, RecipeError
from fusion.types import AuxField, EncoderSpec, Features
from fusion_plugins.unipose.geometry import cam_to_obb, fold_time, obb_to_cam, oriented_box
from fusion_plugins.unipose.voting import vote_joints

_ENCODER = "encoder 'unipose_pointcloud'"
#: The final (stack-2) camera-frame joints, metres: the pseudo-labels the A2J lifters learn from.
JOINTS3D: AuxField[torch.Tensor] = AuxField("joints3d", "(B, T, J, 3) camera-frame joints in metres", _ENCODER)
#: Every stack's joints (all supervised by the weak losses, as in C3P).
STACK_JOINTS: AuxField[list[torch.Tensor]] = AuxField(
    "stack_joints", "one (B, T, J, 3) camera-frame joints per stack", _ENCODER)
HM: AuxField[list[torch.Tensor]] = AuxField("hm", "one (B, T, J, 4, N) closeness/direction map per stack", _ENCODER)


class UniPosePointCloud(nn.Module):
    """``pointcloud (B, T, N, 3 + F)`` metres, camera frame -> Features with 3D joints.

    Features: ``joints (B, 3, T, J)`` camera-frame metres (stack 2), ``frames (B, T, D)``, ``pooled (B, D)``,
    ``xyz (B, T, N, 3)`` (the input points)
    and ``aux``: ``joints3d (B, T, J, 3)``, ``stack_joints`` (one ``(B, T, J, 3)`` per stack, all
    supervised as in C3P) and ``hm`` (the stacks' ``(B, T, J, 4, N)`` maps).

    Args:
        num_joints: J (17 COCO on CMU Panoptic, 25 on SynthAct's NTU layout).
        in_channels: 3 + F point channels (C3P: 6, xyz + normals).
        radius: the voting radius R in metres (C3P: 0.80).
        topk: votes per joint (C3P: 64 of 2048 points on CMU, 25 on ITOP).
        network: further arguments of the ``pointnet2_two_stack`` encoder (centroids, k, MLP widths).
        detection_channels: 0 (C3P) or J: the input's last J channels are 2D-detection heat (see above).
        closeness_bias: initial bias of the closeness heads with detection channels (sigmoid(4) = 0.98).
        heat_floor: added to the heat before weighting, so a joint without detection falls back to ``H``.
    """

    def __init__(self, num_joints: int = 17, in_channels: int = 6, radius: float = 0.8, topk: int = 64,
                 network: dict | None = None, detection_channels: int = 0, closeness_bias: float = 4.0,
                 heat_floor: float = 1e-3, ctx: BuildContext | None = None):
        super().__init__()
        if detection_channels not in (0, num_joints):
            raise RecipeError(f"unipose_pointcloud: detection_channels={detection_channels!r}; expected 0 or "
                              f"num_joints ({num_joints}), one heat channel per joint")
        if in_channels < 3 + detection_channels:
            raise RecipeError(f"unipose_pointcloud: in_channels={in_channels} cannot hold xyz and {detection_channels} "
                              f"detection channels; expected at least {3 + detection_channels}")
        self.net = create_encoder({"name": "pointnet2_two_stack", "args": network}, ctx.at("network"),
                                  in_channels=in_channels, num_joints=num_joints)
        self.num_joints, self.radius, self.topk = num_joints, radius, topk
        self.in_channels, self.detection_channels, self.heat_floor = in_channels, detection_channels, heat_floor
        self.out_dim = self.net.out_dim
        if detection_channels:
            for stack in (self.net.stack1, self.net.stack2):
                nn.init.constant_(stack.heat[2].bias, closeness_bias)

    def forward(self, x: torch.Tensor) -> Features:
        if x.dim() != 4 or x.shape[-1] != self.in_channels:
            raise ContractError(f"unipose_pointcloud: pointcloud must be (B, T, N, {self.in_channels}), got {tuple(x.shape)}"
                                + ("; add the unipose.detection_heat transform" if self.detection_channels else ""))
        batch, frames = x.shape[:2]
        clouds = fold_time(x)
        xyz = clouds[..., :3]
        rotation, scale, offset = oriented_box(xyz)
        normalised = torch.cat([cam_to_obb(xyz, rotation, scale, offset), clouds[..., 3:]], dim=-1)
        points, hms = self.net.forward_points(normalised)
        heat = clouds[..., -self.detection_channels:].transpose(1, 2) + self.heat_floor if self.detection_channels else None
        stack_joints = []
        for hm in hms:
            weight = None if heat is None else hm[:, :, 0] * heat
            joints = vote_joints(normalised[..., :3], hm, self.radius / scale, self.topk, weight)
            stack_joints.append(obb_to_cam(joints, rotation, scale, offset).reshape(batch, frames, self.num_joints, 3))
        per_frame = points.amax(dim=1).reshape(batch, frames, -1)
        final = stack_joints[-1]
        return Features(
            pooled=per_frame.mean(1),
            frames=per_frame,
            joints=final.permute(0, 3, 1, 2),
            xyz=x[..., :3],
            aux={JOINTS3D.name: final, STACK_JOINTS.name: stack_joints,
                 HM.name: [hm.reshape(batch, frames, *hm.shape[1:]) for hm in hms]},
        )


def unipose_pointcloud(num_joints: int = 17, in_channels: int = 6, radius: float = 0.8, topk: int = 64,
                       network: dict | None = None, detection_channels: int = 0, closeness_bias: float = 4.0,
                       heat_floor: float = 1e-3, ctx: BuildContext | None = None) -> UniPosePointCloud:
    """UniPose point-cloud lifter (defaults: C3P's CMU Panoptic configuration, J = 17, 6 channels)."""
    return UniPosePointCloud(num_joints, in_channels, radius, topk, network, detection_channels, closeness_bias,
                             heat_floor, ctx=ctx)


SPEC = EncoderSpec(
    name="unipose_pointcloud",
    factory=unipose_pointcloud,
    modality="pointcloud",
    provides=frozenset({"pooled", "frames", "joints", "xyz"}),
    aux=(JOINTS3D, STACK_JOINTS, HM),
    doc="UniPose point-cloud branch: OBB + two-stack PointNet++ voting -> camera-frame 3D joints (weakly supervised).",
)
