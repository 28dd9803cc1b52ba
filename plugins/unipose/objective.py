"""``unipose_lift``: UniPose's training objective, 3D pose without 3D labels.

- Point-cloud branch (``unipose_pointcloud``): the weak-supervision terms of :mod:`.losses` against the
  2D detections (``pose2d``), on every stack's joints, summed (C3P).
- RGB / depth branches (``unipose_a2j_*``): A2J losses towards pseudo-labels, the point-cloud branch's
  (detached) joints projected into the image: informativeness ``SmoothL1_1(sum_a w anchor, u*)``,
  in-plane ``SmoothL1_1(u, u*)`` and depth ``SmoothL1_3((z - z*) / depth_unit)``.
- Optionally a cross-entropy on the model's logits (``classify_weight``), 0 by default: a pose task.

``logs`` carry ``mpjpe_<branch>`` and ``acc10_<branch>`` (metres, fraction) against ``meta['skeleton_gt']``
when the dataset provides it, including the naive baseline (``naive``) when depth is in the batch;
``python -m fusion_plugins.unipose.evaluate RUN_DIR`` gives the same numbers over a whole split.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError
from fusion.types import Batch, ObjectiveOutput, ObjectiveSpec, batch_field, batch_tensor
from fusion_plugins.unipose import inputs
from fusion_plugins.unipose.body import body_model
from fusion_plugins.unipose.geometry import backproject, project
from fusion_plugins.unipose.image_lifter import ANCHOR_UV, DEPTH_UNIT, UVZ
from fusion_plugins.unipose.losses import C3P_WEIGHTS, weak_supervision
from fusion_plugins.unipose.metrics import accuracy_within, mpjpe, naive_lift
from fusion_plugins.unipose.pointcloud import JOINTS3D, STACK_JOINTS

#: Default A2J loss weights.
A2J_WEIGHTS: dict[str, float] = {"informative": 1.0, "inplane": 0.1, "depth": 1.0}
IMAGE_BRANCHES = ("rgb", "depth")
NAME = "unipose_lift"


def lifted_joints(features: Mapping, k: torch.Tensor, y_up: bool = True) -> dict[str, torch.Tensor]:
    """Camera-frame joints ``(B, T, J, 3)`` of every UniPose branch in ``features`` (by modality)."""
    out = {}
    for modality, feats in features.items():
        if JOINTS3D.name in feats.aux:
            out[modality] = JOINTS3D.read(feats.aux, NAME, f"{modality} encoder")
        elif UVZ.name in feats.aux:
            out[modality] = backproject(UVZ.read(feats.aux, NAME, f"{modality} encoder"), k, y_up)
    return out


def pose_metrics(joints: Mapping[str, torch.Tensor], gt: torch.Tensor) -> dict[str, torch.Tensor]:
    logs = {}
    for name, pred in joints.items():
        logs[f"mpjpe_{name}"] = mpjpe(pred.detach(), gt)
        logs[f"acc10_{name}"] = accuracy_within(pred.detach(), gt)
    return logs


class UniPoseLift(nn.Module):
    """Weak supervision for the point-cloud branch + pseudo-label A2J supervision for RGB/depth.

    Args:
        layout: skeleton layout of the detections and outputs (limbs, bones for the priors).
        y_up: the camera's y axis points up (SynthAct, Kinect camera space); False for y-down cameras.
        weights: weak-term weights (``ray``, ``bone``, ``symmetry``, ``motion``, ``consistency``); C3P's by default.
        bone_prior: limb lengths in metres by name (``upper_arm``, ``forearm``, ``thigh``, ``shin``).
        consistency: ``frame`` (C3P) or ``temporal`` (proposed) bone-consistency term.
        score_weighted: weight the ray loss by detector scores (proposed; C3P uses a plain mean).
        pointcloud_losses: train the point-cloud branch (False when it is frozen and only teaches).
        a2j_weights: ``informative``, ``inplane``, ``depth`` loss weights.
        classify_weight: weight of a cross-entropy on the logits (0: pose only).
        pose_key: the modality holding 2D detections.
        intrinsics: ``{fx, fy, cx, cy}`` of a fixed camera, used when samples carry no ``meta['intrinsics']``.
    """

    #: The registry name, used in error messages.
    objective_name = "unipose_lift"

    def __init__(self, layout: str = "ntu25", y_up: bool = True, weights: dict | None = None, bone_prior: dict | None = None,
                 consistency: str = "frame", score_weighted: bool = False, pointcloud_losses: bool = True,
                 a2j_weights: dict | None = None, classify_weight: float = 0.0, pose_key: str = "pose2d",
                 intrinsics: dict | None = None):
        super().__init__()
        body = body_model(layout, bone_prior)
        for name in ("limbs", "bones", "prior"):
            self.register_buffer(name, getattr(body, name), persistent=False)
        self.weights = {**C3P_WEIGHTS, **(weights or {})}
        self.a2j_weights = {**A2J_WEIGHTS, **(a2j_weights or {})}
        self.y_up, self.consistency, self.score_weighted = y_up, consistency, score_weighted
        self.pointcloud_losses, self.classify_weight, self.pose_key = pointcloud_losses, classify_weight, pose_key
        self.intrinsics = dict(intrinsics) if intrinsics else None
        self.num_joints = body.num_joints

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        out = model(batch)
        features = out.features
        device = next(iter(features.values())).frames.device
        k = inputs.intrinsics(batch, device, self.intrinsics)
        uv, score = inputs.detections(batch, self.pose_key)
        if uv.shape[2] != self.num_joints:
            raise ContractError(f"unipose_lift: {self.pose_key} has {uv.shape[2]} joints but layout has {self.num_joints}; "
                                "give the objective the detections' layout and the lifters as many joints")
        loss, logs = uv.new_zeros(()), {}
        teacher = features.get("pointcloud")  # the point-cloud branch (unipose_pointcloud) when the model has one
        teacher_joints = JOINTS3D.get(teacher.aux) if teacher is not None else None
        if teacher_joints is not None and teacher_joints.shape[2] != self.num_joints:
            raise ContractError(f"unipose_lift: the point-cloud branch predicts {teacher_joints.shape[2]} joints, "
                                f"the layout has {self.num_joints}; set its num_joints to match")
        stacks = STACK_JOINTS.get(teacher.aux) if teacher is not None else None
        if stacks is not None and self.pointcloud_losses:
            for i, joints in enumerate(stacks):
                terms = weak_supervision(joints, uv, k, self.limbs, self.bones, self.prior, self.weights, self.y_up,
                                         score if self.score_weighted else None, self.consistency)
                loss = loss + terms.total
                logs.update({f"{name}_{i + 1}": value.detach() for name, value in terms.terms.items()})
        image_branches = [m for m in IMAGE_BRANCHES if m in features and UVZ.name in features[m].aux]
        if image_branches:
            if teacher is None or teacher_joints is None:
                raise ContractError("unipose_lift: the A2J lifters learn from the point-cloud branch's pseudo-labels; "
                                    "add a pointcloud encoder 'unipose_pointcloud' to the model")
            target = project(teacher_joints.detach(), k, self.y_up)
            for modality in image_branches:
                term = self.a2j_loss(features[modality].aux, target, f"{modality} encoder")
                loss = loss + term
                logs[f"a2j_{modality}"] = term.detach()
        if self.classify_weight and out.logits is not None:
            term = F.cross_entropy(out.logits.float(), batch_field(batch, "label", NAME))
            loss = loss + self.classify_weight * term
            logs["ce"] = term.detach()
        gt = inputs.ground_truth(batch, uv.shape[1], device)
        if gt is not None:
            joints = lifted_joints(features, k, self.y_up)
            if "depth" in batch:  # the naive baseline when the depth modality is loaded
                joints["naive"] = naive_lift(uv, batch_tensor(batch, "depth", NAME).float(), k, self.y_up)
            logs.update(pose_metrics(joints, gt))
        return loss, ObjectiveOutput(logits=out.logits, logs=logs)

    def a2j_loss(self, aux: Mapping, target: torch.Tensor, where: str = "image encoder") -> torch.Tensor:
        """A2J's three terms for one lifter, targets ``(B, T, J, 3)`` = pixel u, v and depth z (metres)."""
        w = self.a2j_weights
        uvz = UVZ.read(aux, NAME, where)
        informative = F.smooth_l1_loss(ANCHOR_UV.read(aux, NAME, where), target[..., :2], beta=1.0)
        inplane = F.smooth_l1_loss(uvz[..., :2], target[..., :2], beta=1.0)
        unit = DEPTH_UNIT.read(aux, NAME, where)
        depth = F.smooth_l1_loss(uvz[..., 2] / unit, target[..., 2] / unit, beta=3.0)
        return w["informative"] * informative + w["inplane"] * inplane + w["depth"] * depth


def unipose_lift(layout: str = "ntu25", y_up: bool = True, weights: dict | None = None, bone_prior: dict | None = None,
                 consistency: str = "frame", score_weighted: bool = False, pointcloud_losses: bool = True,
                 a2j_weights: dict | None = None, classify_weight: float = 0.0, pose_key: str = "pose2d",
                 intrinsics: dict | None = None) -> UniPoseLift:
    """UniPose lifting objective (see :class:`UniPoseLift`)."""
    return UniPoseLift(layout, y_up, weights, bone_prior, consistency, score_weighted, pointcloud_losses, a2j_weights,
                       classify_weight, pose_key, intrinsics)


SPEC = ObjectiveSpec(
    name="unipose_lift",
    factory=unipose_lift,
    doc="UniPose: weakly supervised point-cloud 3D pose (ray, bone, symmetry, motion) + A2J lifters on pseudo-labels.",
    batch=("<pose_key>", "meta", "label"),
    aux=(JOINTS3D, STACK_JOINTS, UVZ, ANCHOR_UV, DEPTH_UNIT),
)
