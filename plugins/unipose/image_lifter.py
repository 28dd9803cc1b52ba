"""UniPose's RGB and depth lifters: a per-frame backbone + A2J heads -> joint pixel and depth -> 3D.

UniPose trains these from the point-cloud branch's pseudo-labels projected into the
image, so no human 3D label is needed. Predicted depth is ``z = z_ref + depth_unit * d``, where
``z_ref`` is the median depth of the frame's valid pixels for the depth lifter (A2J also regresses
depth relative to the person) and the constant ``depth_prior`` for RGB, which sees no depth.
With ``intrinsics`` given, ``Features.joints`` holds camera-frame metres (for lift-then-recognise);
without, it holds ``(u, v, z)`` and the ``unipose_lift`` objective back-projects with per-sample
intrinsics. Which parts follow A2J and which are proposed: the heads, anchors and decoding are
A2J's; the depth reference for RGB and the use of pseudo-labels as targets are [INF].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.types import AuxField, EncoderSpec, Features
from fusion_plugins.unipose.a2j import A2JHead
from fusion_plugins.unipose.backbones import build_backbone
from fusion_plugins.unipose.geometry import backproject, fold_time, intrinsics_tensor

MODALITIES = ("rgb", "depth")
A2J_OFFSETS = {"resnet50": (2, 6, 10, 14), "small": (2, 6)}


def median_valid_depth(depth: torch.Tensor) -> torch.Tensor:
    """Median of the non-zero pixels of each frame ``(B', 1, H, W)`` -> ``(B',)``; 0 for an empty frame."""
    flat = depth.flatten(1)
    valid = flat > 0
    keyed = torch.where(valid, flat, torch.full_like(flat, float("inf"))).sort(dim=1).values
    count = valid.sum(1)
    middle = ((count - 1).clamp_min(0) // 2).unsqueeze(1)
    return torch.where(count > 0, keyed.gather(1, middle).squeeze(1), torch.zeros_like(count, dtype=flat.dtype))


_ENCODER = "encoder 'unipose_a2j_rgb' or 'unipose_a2j_depth'"
UVZ: AuxField[torch.Tensor] = AuxField("uvz", "(B, T, J, 3) joint pixel u, v and depth z (metres)", _ENCODER)
ANCHOR_UV: AuxField[torch.Tensor] = AuxField("anchor_uv", "(B, T, J, 2) anchor-weighted joint pixels", _ENCODER)
WEIGHTS: AuxField[torch.Tensor] = AuxField("weights", "(B, T, A, J) anchor weights per joint", _ENCODER)
DEPTH_UNIT: AuxField[float] = AuxField("depth_unit", "metres per unit of predicted depth offset", _ENCODER)
Z_REF: AuxField[torch.Tensor] = AuxField("z_ref", "(B, T) reference depth of each frame (metres)", _ENCODER)
AUX = (UVZ, ANCHOR_UV, WEIGHTS, DEPTH_UNIT, Z_REF)


class A2JLifter(nn.Module):
    """``rgb (B, 3, T, H, W)`` or ``depth (B, 1, T, H, W)`` metres -> per-frame joints by A2J.

    Features: ``joints (B, 3, T, J)``, ``frames (B, T, C)``, ``pooled (B, C)`` and ``aux``: ``uvz (B, T, J, 3)``
    (pixels, metres), ``anchor_uv (B, T, J, 2)``, ``weights (B, T, A, J)``, ``depth_unit`` and
    ``z_ref (B, T)``.
    """

    def __init__(self, modality: str, num_joints: int = 17, backbone: str = "resnet50", widths: Sequence[int] | None = None,
                 offsets: Sequence[float] | None = None, head_width: int = 256, head_layers: int = 4,
                 depth_unit: float = 0.01, depth_prior: float = 3.0, depth_range: float = 1.0,
                 intrinsics: Mapping[str, float] | None = None, y_up: bool = True):
        super().__init__()
        if modality not in MODALITIES:
            raise RecipeError(f"unipose A2J lifter: modality={modality!r}; expected one of {', '.join(MODALITIES)}")
        self.modality, self.num_joints = modality, num_joints
        in_channels = 3 if backbone == "resnet50" or modality == "rgb" else 1
        self.backbone = build_backbone(backbone, in_channels, widths)
        stage3, stage4 = self.backbone.channels
        self.head = A2JHead(stage3, stage4, num_joints, self.backbone.stride, offsets or A2J_OFFSETS[backbone],
                            head_width, head_layers)
        self.depth_unit, self.depth_prior, self.depth_range, self.y_up = depth_unit, depth_prior, depth_range, y_up
        self.intrinsics = dict(intrinsics) if intrinsics else None
        self.out_dim = stage4

    def _inputs(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input and the per-frame depth reference ``z_ref (B',)``."""
        if self.modality == "rgb":
            return frames, frames.new_full(frames.shape[:1], self.depth_prior)
        reference = median_valid_depth(frames)
        x = torch.where(frames > 0, (frames - reference.view(-1, 1, 1, 1)) / self.depth_range, torch.zeros_like(frames))
        return x.expand(-1, self.backbone.in_channels, -1, -1), reference

    def forward(self, video: torch.Tensor) -> Features:
        channels = 3 if self.modality == "rgb" else 1
        if video.dim() != 5 or video.shape[1] != channels:
            raise ContractError(f"unipose A2J lifter: {self.modality} must be (B, {channels}, T, H, W), got {tuple(video.shape)}")
        batch, frames = video.shape[0], video.shape[2]
        x, reference = self._inputs(fold_time(video.transpose(1, 2)))
        stage3, stage4 = self.backbone(x)
        out = self.head(stage3, stage4)
        z = reference.unsqueeze(1) + self.depth_unit * out["depth"]
        uvz = torch.cat([out["uv"], z.unsqueeze(-1)], dim=-1).reshape(batch, frames, self.num_joints, 3)
        joints = uvz
        if self.intrinsics is not None:
            joints = backproject(uvz, intrinsics_tensor(self.intrinsics, batch, uvz.device), self.y_up)
        per_frame = stage4.mean((2, 3)).reshape(batch, frames, -1)
        return Features(
            pooled=per_frame.mean(1),
            frames=per_frame,
            joints=joints.permute(0, 3, 1, 2),
            aux={UVZ.name: uvz, ANCHOR_UV.name: out["anchor_uv"].reshape(batch, frames, self.num_joints, 2),
                 WEIGHTS.name: out["weights"].reshape(batch, frames, -1, self.num_joints),
                 DEPTH_UNIT.name: self.depth_unit, Z_REF.name: reference.reshape(batch, frames)},
        )


def _factory(modality: str):
    def factory(num_joints: int = 17, backbone: str = "resnet50", widths: Sequence[int] | None = None,
                offsets: Sequence[float] | None = None, head_width: int = 256, head_layers: int = 4,
                depth_unit: float = 0.01, depth_prior: float = 3.0, depth_range: float = 1.0,
                intrinsics: Mapping[str, float] | None = None, y_up: bool = True) -> A2JLifter:
        return A2JLifter(modality, num_joints, backbone, widths, offsets, head_width, head_layers, depth_unit,
                         depth_prior, depth_range, intrinsics, y_up)

    factory.__name__ = factory.__qualname__ = f"unipose_a2j_{modality}"
    factory.__doc__ = (f"UniPose A2J lifter on {modality} (defaults: A2J's ResNet-50, stride 16, 16 anchors per cell, "
                       "256-wide heads). ``intrinsics`` {fx, fy, cx, cy} makes ``joints`` camera-frame metres.")
    return factory


unipose_a2j_rgb = _factory("rgb")
unipose_a2j_depth = _factory("depth")

SPECS = [
    EncoderSpec(name="unipose_a2j_rgb", factory=unipose_a2j_rgb, modality="rgb",
                provides=frozenset({"pooled", "frames", "joints"}), aux=AUX,
                doc="UniPose RGB lifter: per-frame backbone + anchor-to-joint heads (pixel + depth per joint)."),
    EncoderSpec(name="unipose_a2j_depth", factory=unipose_a2j_depth, modality="depth",
                provides=frozenset({"pooled", "frames", "joints"}), aux=AUX,
                doc="UniPose depth lifter: per-frame backbone + anchor-to-joint heads (pixel + depth per joint)."),
]
