"""Lift-then-recognise: UniPose lifts 3D skeletons from RGB-D, a skeleton encoder classifies them.

RGB-D data without a skeleton sensor can then use every skeleton method: the ``pose`` role's encoder
(``unipose_pointcloud``, or an A2J lifter given ``intrinsics``) provides ``joints (B, 3, T, V)`` in
metres; they are centred on one joint of the first frame (as ``skeleton.center`` does for sensor
skeletons) and fed, as ``(B, 3, T, V, 1)``, to any registered skeleton encoder (ST-GCN, CTR-GCN, ...).
Typically the lifter comes from a ``unipose_lift`` run (``model.init``) and is frozen (``model.freeze``).
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.construct import BuildContext, create_encoder
from fusion.types import AuxField, MixerOutput, MixerSpec
from fusion_plugins.unipose.body import load_layout

DEFAULT_RECOGNISER = {"name": "stgcn", "args": {"layout": "ntu25", "in_channels": 3, "config": "small"}}


#: The (centred, masked) 3D joints the recogniser classifies.
LIFTED: AuxField[torch.Tensor] = AuxField(
    "lifted", "(B, 3, T, J) lifted joints as classified (centred, zero where the pose modality is absent)",
    "mixer 'unipose_recognise' or 'unipose_fusion'")


class LiftThenRecognise(nn.Module):
    """``features[pose].joints`` -> centre -> skeleton encoder -> ``fused`` (its pooled feature).

    Args:
        recogniser: ``{name, args}`` of a registered skeleton encoder.
        layout: skeleton layout of the lifted joints (for the centring joint).
        center: subtract the layout's origin joint of the first frame.
        detach: stop gradients into the lifter (lift, then recognise); False trains end to end.
    """

    def __init__(self, dims: dict[str, int], num_classes: int, roles: dict, recogniser: dict | None = None,
                 layout: str = "ntu25", center: bool = True, detach: bool = True, ctx: BuildContext | None = None):
        super().__init__()
        block = recogniser or DEFAULT_RECOGNISER
        self.pose = roles.get("pose", "pose")
        self.recogniser = create_encoder(block, ctx.at("recogniser"))
        self.origin = load_layout(layout).origin if center else None
        self.detach = detach
        self.out_dim = self.recogniser.out_dim

    def forward(self, features, masks) -> MixerOutput:
        joints = features[self.pose].joints
        if self.detach:
            joints = joints.detach()
        if self.origin is not None:
            joints = joints - joints[:, :, :1, self.origin : self.origin + 1]
        joints = joints * masks[self.pose].to(joints.dtype).view(-1, 1, 1, 1)
        encoded = self.recogniser(joints.unsqueeze(-1))
        return MixerOutput(fused=encoded.pooled, aux={LIFTED.name: joints})


SPEC = MixerSpec(
    name="unipose_recognise",
    factory=LiftThenRecognise,
    nested={"recogniser": "encoder"},
    aux=(LIFTED,),
    needs={"pose": frozenset({"joints"})},
    doc="Lift-then-recognise: UniPose's lifted 3D joints (role 'pose') classified by any skeleton encoder.",
)

