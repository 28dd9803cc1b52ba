"""EPAM-Net: pose-driven spatial-temporal attention from a pose stream onto an RGB stream (Abdelkawy et al. 2025).

Follows the official code (``ahmed-nady/Multimodal-Action-Recognition`` @ 32267f1):

* **RGB stream**: any encoder giving ``volume (B, C_r, T_r, h, w)`` for the ``video`` role; the paper's
  is ``xshiftnet_rgb`` (432 channels, 16 frames, 7 x 7 for 224 x 224 input).
* **Pose stream**: keypoint heatmaps (Gaussian sigma 0.6 on 56 x 56, amplitude = score, max over
  persons, rendered from ``pose2d`` on the fly by :mod:`fusion_plugins.skeleton.heatmaps`) through the pose
  X-ShiftNet (``xshiftnet_pose``, 216 channels at stride 8) give ``f_s (B, 216, T_p, h, w)``. By default
  that is the ``pose`` role's encoder, ``pose_heatmap_net``, whose volume is ``f_s``; with the
  parameter-free ``pose_heatmaps`` encoder instead, set ``pose_encoder: xshiftnet_pose`` and the mixer
  runs the backbone on the heatmap volume itself.
* **Time alignment**: ``f_s`` at frames ``floor(i * T_p / T_r)`` (48 -> 16: 0, 3, ..., 45), the official
  indices; ``time_align: centre`` takes segment centres instead [INF], for streams sampled separately.
* **STA block** (``CBAMSpatialEfficientTemporalAttention``, nested; 107 parameters): see
  :class:`SpatialTemporalAttention`; guided RGB ``f_r' = f_r * (1 + A)``.
* **Heads** (I3DHead): GAP -> dropout 0.5 -> Linear, N(0, 0.01) init; RGB head on ``f_r'``, pose head on
  the full-length ``f_s``. Score ``z_rgb + z_pose`` (raw logits); training loss ``CE(z_rgb) + CE(z_pose)``
  (objective :data:`BRANCH_CE_SPEC`, ``branch_ce``), no loss on the sum.

Missing modalities [INF policy]: a sample without pose gets ``A = 0`` (plain RGB features) and no pose
logits; a sample without RGB is scored by the pose head alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.construct import BuildContext, create_encoder
from fusion.errors import ContractError
from fusion.mixers._common import align_time, row_mask, temporal_indices
from fusion.types import (
    LOGITS_PER_MODALITY,
    LOSSES,
    AuxField,
    Batch,
    MixerOutput,
    MixerSpec,
    ObjectiveOutput,
    ObjectiveSpec,
    batch_field,
)

#: The pose-driven attention map applied to the RGB volume.
ATTENTION: AuxField[torch.Tensor] = AuxField("attention", "(B, 1, T, H, W) pose-driven attention on the RGB map, in (0, 1)",
                                             "mixer 'epamnet'")


class SpatialTemporalAttention(nn.Module):
    """EPAM-Net's STA map from pose features ``P (B, C, T, H, W)`` -> ``A (B, 1, T, H, W)`` in (0, 1).

    1. channel pooling ``[max_c P ; mean_c P]`` (B, 2, T, H, W);
    2. spatial map ``A_s = sigmoid(BN(Conv3d 2->1, kernel (1, 7, 7), 'same', no bias))``, BN eps 1e-5,
       momentum 0.01, no ReLU;
    3. temporal map nested on ``A_s`` (ECA-style): ``A_t = sigmoid(Conv1d 1->1, k 7, pad 3, no bias)`` over
       ``mean_{h,w} A_s``;
    4. ``A = A_s * A_t``. Parameters: 98 + 2 + 7 = 107.
    """

    def __init__(self, spatial_kernel: int = 7, temporal_kernel: int = 7):
        super().__init__()
        pad = spatial_kernel // 2
        self.spatial = nn.Conv3d(2, 1, (1, spatial_kernel, spatial_kernel), padding=(0, pad, pad), bias=False)
        self.bn = nn.BatchNorm3d(1, eps=1e-5, momentum=0.01)
        self.temporal = nn.Conv1d(1, 1, temporal_kernel, padding=temporal_kernel // 2, bias=False)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([pose.amax(dim=1, keepdim=True), pose.mean(dim=1, keepdim=True)], dim=1)
        spatial = torch.sigmoid(self.bn(self.spatial(pooled)))  # (B, 1, T, H, W)
        temporal = torch.sigmoid(self.temporal(spatial.mean(dim=(3, 4))))  # (B, 1, T)
        return spatial * temporal[..., None, None]


class VideoHead(nn.Module):
    """MMAction2's I3DHead: global average pool over (T, H, W) -> dropout -> Linear, weights N(0, init_std)."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.5, init_std: float = 0.01):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, init_std)
        nn.init.zeros_(self.fc.bias)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(volume.mean(dim=(2, 3, 4))))


class EPAMNet(nn.Module):
    """EPAM-Net fusion: pose stream + STA on the RGB stream + two heads with summed logits.

    Args:
        dims: ``volume`` channels per modality (RGB features; heatmap channels V for the pose role).
        roles: ``video`` and ``pose`` -> modality names (e.g. ``{video: rgb, pose: pose2d}``).
        pose_encoder: registry name of a pose backbone the mixer runs on the pose role's volume
            (heatmaps); ``null`` (default): that volume already is the pose feature map ``f_s``.
        pose_args: its arguments (``in_channels`` is set to the heatmap channels).
        dropout, init_std: of both heads.
        spatial_kernel, temporal_kernel: STA kernel sizes (7, 7).
        resize_attention: if the pose and RGB maps differ in size, resize ``A`` trilinearly to the RGB
            map [INF]; otherwise such a mismatch is an error (the paper aligns H_rgb / 32 = H_pose / 8).
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        roles: dict,
        pose_encoder: str | None = None,
        pose_args: dict | None = None,
        dropout: float = 0.5,
        init_std: float = 0.01,
        spatial_kernel: int = 7,
        temporal_kernel: int = 7,
        resize_attention: bool = False,
        time_align: str = "start",
        ctx: BuildContext | None = None,
    ):
        super().__init__()
        self.video, self.pose = roles.get("video", "video"), roles.get("pose", "pose")
        self.pose_stream = (
            create_encoder({"name": pose_encoder, "args": pose_args}, ctx.at("pose_encoder"), in_channels=dims[self.pose])
            if pose_encoder else None
        )
        pose_dim = int(self.pose_stream.out_dim) if self.pose_stream is not None else dims[self.pose]
        self.attention = SpatialTemporalAttention(spatial_kernel, temporal_kernel)
        self.video_head = VideoHead(dims[self.video], num_classes, dropout, init_std)
        self.pose_head = VideoHead(pose_dim, num_classes, dropout, init_std)
        self.resize_attention = resize_attention
        temporal_indices(2, 1, mode=time_align)  # validates the choice at build time
        self.time_align = time_align
        self.out_dim = None

    def pose_features(self, volume: torch.Tensor) -> torch.Tensor:
        """``f_s``: the pose backbone on the heatmaps (or the volume itself without a backbone)."""
        return volume if self.pose_stream is None else self.pose_stream(volume).volume

    def guide(self, rgb: torch.Tensor, pose: torch.Tensor, pose_present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f_r * (1 + A), A)`` with ``A`` from the time-aligned pose features; ``A = 0`` without pose."""
        attention = self.attention(align_time(pose, rgb.shape[2], dim=2, mode=self.time_align))
        if attention.shape[-2:] != rgb.shape[-2:]:
            if not self.resize_attention:
                raise ContractError(
                    f"epamnet: pose map {tuple(attention.shape[-2:])} and RGB map {tuple(rgb.shape[-2:])} differ; "
                    "choose input sizes with H_rgb / 32 == H_pose / 8 (e.g. 224 and 56) or set resize_attention: true"
                )
            attention = F.interpolate(attention, size=rgb.shape[2:], mode="trilinear", align_corners=False)
        attention = attention * row_mask(pose_present, attention)
        return rgb * (1 + attention), attention

    def forward(self, features, masks) -> MixerOutput:
        rgb = features[self.video].volume
        pose = self.pose_features(features[self.pose].volume)
        guided, attention = self.guide(rgb, pose, masks[self.pose])
        z_rgb = self.video_head(guided)
        z_pose = self.pose_head(pose)
        logits = z_rgb * row_mask(masks[self.video], z_rgb) + z_pose * row_mask(masks[self.pose], z_pose)
        return MixerOutput(
            fused=None,
            logits=logits,
            aux={LOGITS_PER_MODALITY.name: {self.video: z_rgb, self.pose: z_pose}, ATTENTION.name: attention},
        )


class BranchCrossEntropy(nn.Module):
    """EPAM-Net's training loss: ``Σ_m CE(z_m, y)`` over ``aux['logits_per_modality']`` (+ ``fused_weight`` CE(logits)).

    A branch named after a modality is trained only on the samples that have that modality (its mask);
    ``aux['losses']`` terms are added as in ``classify``.

    Args:
        fused_weight: weight of a CE on the summed logits (0 in the paper).
        label_smoothing: as in ``F.cross_entropy``.
    """

    #: The registry name, used in error messages.
    objective_name = "branch_ce"

    def __init__(self, fused_weight: float = 0.0, label_smoothing: float = 0.0):
        super().__init__()
        self.fused_weight, self.label_smoothing = fused_weight, label_smoothing

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        out = model(batch)
        label = batch_field(batch, "label", self.objective_name)
        branches = LOGITS_PER_MODALITY.read(out.aux, self.objective_name)
        if not branches:
            raise ContractError("branch_ce: the mixer reports no aux['logits_per_modality']; use objective classify")
        loss, logs = out.logits.new_zeros(()), {}
        for name, logits in branches.items():
            per_sample = F.cross_entropy(logits.float(), label, label_smoothing=self.label_smoothing, reduction="none")
            keep = batch_field(batch, "mask", self.objective_name).get(name, torch.ones_like(label, dtype=torch.bool)).to(per_sample.dtype)
            term = (per_sample * keep).sum() / keep.sum().clamp_min(1.0)
            loss = loss + term
            logs[f"ce_{name}"] = term.detach()
        if self.fused_weight:
            term = F.cross_entropy(out.logits.float(), label, label_smoothing=self.label_smoothing)
            loss = loss + self.fused_weight * term
            logs["ce"] = term.detach()
        for name, term in LOSSES.get(out.aux, {}).items():
            loss = loss + term
            logs[name] = term.detach()
        return loss, ObjectiveOutput(logits=out.logits, logs=logs)


SPEC = MixerSpec(
    name="epamnet",
    factory=EPAMNet,
    aux=(LOGITS_PER_MODALITY, ATTENTION),
    nested={"pose_encoder": "encoder@pose_args"},
    needs={"video": frozenset({"volume"}), "pose": frozenset({"volume"})},
    doc="EPAM-Net: pose X-ShiftNet on heatmaps, spatial-temporal attention on the RGB volume, summed two-head logits.",
)

BRANCH_CE_SPEC = ObjectiveSpec(
    name="branch_ce",
    factory=BranchCrossEntropy,
    doc="Sum of cross-entropies of the per-modality logits (EPAM-Net's loss), masked per modality.",
    batch=("label", "mask"),
    aux=(LOGITS_PER_MODALITY, LOSSES),
)
