"""Cross-modal transformer with 3D deformable attention (Kim, Ahn, Ko, ICCV 2023, arXiv 2212.05638).

What follows the paper's abstract and figure ([ABS]/[REV]): RGB tokens from a video
backbone and pose tokens go through ``L`` blocks, each with (a) **3D deformable attention** whose
*3D token search* (3DTS) finds sampling positions in (T, H, W), queries = RGB tokens + cross-modal
tokens, keys/values = sampled *deformable tokens* + cross-modal tokens; (b) **local joint-stride
attention** combining pose tokens with the attention tokens; (c) **temporal-stride attention** over
temporally strided subsets of tokens; two **cross-modal tokens** (RGB, pose) carry the exchange, and
the class comes from the last block's cross-modal tokens.

What is proposed here ([INF]; no code or paper body is public, replace when it is):

* tokens: ``Z = Linear(volume)`` (1x1x1 conv of the video encoder's volume to C), pose tokens
  ``P = Linear(joints) + joint embedding``, both + a learned frame embedding; pose frames are aligned
  to the video frames by index (``floor(i T_p / T_v)``);
* 3DTS as DAT in 3D: per channel group, ``Δp = r tanh(θ_off(Z_g)) / (T', H', W')`` with
  ``θ_off`` = depthwise Conv3d(k 3, stride (s_t, s, s)) -> LayerNorm -> GELU -> 1x1x1 Conv3d(-> 3, no
  bias, zero-initialised); reference points at the strided voxels ``i * s``, so zero offsets sample
  exactly ``Z[:, :, ::s_t, ::s, ::s]``; trilinear ``grid_sample`` (5-D, ``align_corners=True``, zeros
  outside); no relative-position bias;
* joint-stride attention: joints in groups of ``joint_group`` (contiguous ``chunk`` or interleaved
  ``stride``); per frame and group, attention over the group's pose tokens, ``X_p`` and the frame's
  pooled RGB token; ``X_p`` is updated by the mean over frames and groups;
* temporal-stride attention: frames split into ``temporal_stride`` interleaved subsets
  ``S_k = {t : t = k mod s}``; per subset, attention over each frame's pooled RGB token and pose
  tokens plus both cross-modal tokens; the cross-modal update is the mean over subsets, the pooled RGB
  update is added to every position of its frame;
* pre-LN residual sub-layers, FFN (``mlp_ratio`` C, GELU) per stream; head ``LN([X_r ; X_p]) -> Linear``.

Missing modalities: a missing stream's tokens are never keys or values (key-padding masks in all three
attentions; the cross-modal tokens always are), so the classification does not depend on its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.mixers._common import align_time, temporal_indices
from fusion.types import MixerOutput, MixerSpec


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    return (value,) * 3 if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def reference_grid(in_size: Sequence[int], out_size: Sequence[int], stride: Sequence[int], device=None) -> torch.Tensor:
    """Reference points ``(T', H', W', 3)`` in ``grid_sample`` coordinates (order t, h, w; in [-1, 1]).

    Output cell ``i`` of an axis sits on voxel ``i * s`` of the input; with ``align_corners=True`` that
    voxel is ``2 i s / (N - 1) - 1`` (0 for an axis of length 1).
    """
    axes = []
    for n, n_out, s in zip(in_size, out_size, stride):
        voxel = torch.arange(n_out, dtype=torch.float32, device=device) * s
        axes.append(voxel * (2.0 / (n - 1)) - 1.0 if n > 1 else torch.zeros_like(voxel))
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


class ChannelNorm3d(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, T, H, W)`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class TokenSearch3D(nn.Module):
    """3DTS [INF]: learned offsets around a strided reference grid, trilinear sampling per channel group.

    ``forward(z (B, C, T, H, W)) -> (sampled (B, C, T', H', W'), positions (B, G, T', H', W', 3))``,
    positions in ``grid_sample`` order (x = w, y = h, z = t).
    """

    def __init__(self, dim: int, groups: int, stride: int | Sequence[int] = 2, offset_range: float = 2.0, kernel: int = 3):
        super().__init__()
        if dim % groups:
            raise RecipeError(f"deformable: dim ({dim}) must be divisible by groups ({groups})")
        self.groups, self.stride, self.offset_range = groups, _triple(stride), offset_range
        width = dim // groups
        self.offset = nn.Sequential(
            nn.Conv3d(width, width, kernel, self.stride, kernel // 2, groups=width),
            ChannelNorm3d(width),
            nn.GELU(),
            nn.Conv3d(width, 3, 1, bias=False),
        )
        nn.init.zeros_(self.offset[-1].weight)  # DAT: start at the reference grid

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, dim, *size = z.shape
        grouped = z.reshape(batch * self.groups, dim // self.groups, *size)
        raw = self.offset(grouped)  # (B G, 3, T', H', W'), channels (t, h, w)
        out_size = raw.shape[2:]
        scale = raw.new_tensor([self.offset_range / n for n in out_size]).view(1, 3, 1, 1, 1)
        delta = (torch.tanh(raw) * scale).permute(0, 2, 3, 4, 1)
        positions = (reference_grid(size, out_size, self.stride, z.device).to(z.dtype) + delta).flip(-1)
        sampled = F.grid_sample(grouped, positions, mode="bilinear", padding_mode="zeros", align_corners=True)
        return sampled.reshape(batch, dim, *out_size), positions.reshape(batch, self.groups, *out_size, 3)


class DeformableAttention3D(nn.Module):
    """Queries ``[Z ; X]``, keys/values ``[3DTS(Z) ; X]``; returns updates for ``Z (B, T, H, W, C)`` and ``X (B, 2, C)``."""

    def __init__(self, dim: int, heads: int, groups: int, stride: int | Sequence[int], offset_range: float):
        super().__init__()
        self.search = TokenSearch3D(dim, groups, stride, offset_range)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, z: torch.Tensor, x: torch.Tensor, video_present: torch.Tensor, need_weights: bool = False):
        batch, frames, height, width, dim = z.shape
        sampled, positions = self.search(z.permute(0, 4, 1, 2, 3))
        keys = torch.cat([sampled.flatten(2).transpose(1, 2), x], dim=1)
        queries = torch.cat([z.reshape(batch, -1, dim), x], dim=1)
        padding = torch.zeros(keys.shape[:2], dtype=torch.bool, device=z.device)
        padding[:, : -x.shape[1]] = ~video_present[:, None]
        out, weights = self.attn(queries, keys, keys, key_padding_mask=padding, need_weights=need_weights)
        dz = out[:, : -x.shape[1]].reshape(batch, frames, height, width, dim)
        return dz, out[:, -x.shape[1]:], {"positions": positions, "weights": weights}


def joint_groups(num_joints: int, size: int, mode: str = "chunk") -> torch.Tensor:
    """Groups of joint indices ``(G, size)``, -1 padding; every joint in exactly one group.

    ``chunk``: consecutive joints along the layout's (kinematic) order; ``stride``: joint ``j`` goes to
    group ``j mod G`` (interleaved), with ``G = ceil(J / size)``.
    """
    count = math.ceil(num_joints / size)
    padded = torch.full((count * size,), -1, dtype=torch.long)
    padded[:num_joints] = torch.arange(num_joints)
    if mode == "chunk":
        return padded.view(count, size)
    if mode == "stride":
        return padded.view(size, count).t().contiguous()
    raise RecipeError(f"deformable: joint_mode must be chunk or stride, got {mode!r}")


class JointStrideAttention(nn.Module):
    """Per frame and joint group: attention over the group's pose tokens, ``X_p`` and the frame's RGB token."""

    def __init__(self, dim: int, heads: int, num_joints: int, group_size: int, mode: str):
        super().__init__()
        groups = joint_groups(num_joints, min(group_size, num_joints), mode)
        flat = groups.flatten()
        valid = flat >= 0
        inverse = torch.empty(num_joints, dtype=torch.long)  # slot of joint j in the flattened groups
        inverse[flat[valid]] = torch.arange(flat.numel())[valid]
        self.register_buffer("index", groups.clamp_min(0), persistent=False)
        self.register_buffer("pad", groups < 0, persistent=False)
        self.register_buffer("inverse", inverse, persistent=False)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, p: torch.Tensor, xp: torch.Tensor, frame: torch.Tensor, pose_present: torch.Tensor,
                video_present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p (B, T, J, C)``, ``xp (B, C)``, ``frame (B, T, C)`` -> ``(dp (B, T, J, C), dxp (B, C))``."""
        batch, frames, _, dim = p.shape
        count, size = self.index.shape
        grouped = p[:, :, self.index]  # (B, T, G, w, C)
        extra = torch.stack([xp[:, None].expand(-1, frames, -1), frame], dim=2)  # (B, T, 2, C)
        tokens = torch.cat([grouped, extra[:, :, None].expand(-1, -1, count, -1, -1)], dim=3)
        padding = torch.cat(
            [
                self.pad.expand(batch, frames, count, size) | ~pose_present[:, None, None, None],
                torch.zeros(batch, frames, count, 1, dtype=torch.bool, device=p.device),
                (~video_present)[:, None, None, None].expand(batch, frames, count, 1),
            ],
            dim=3,
        )
        out = self.attn(*(tokens.reshape(-1, size + 2, dim),) * 3, key_padding_mask=padding.reshape(-1, size + 2),
                        need_weights=False)[0].reshape(batch, frames, count, size + 2, dim)
        dp = out[:, :, :, :size].reshape(batch, frames, count * size, dim)[:, :, self.inverse]
        return dp, out[:, :, :, size].mean(dim=(1, 2))


class TemporalStrideAttention(nn.Module):
    """Attention within each temporal subset ``S_k = {t : t = k mod s}`` (frame RGB token + pose tokens) + X."""

    def __init__(self, dim: int, heads: int, stride: int):
        super().__init__()
        self.stride = stride
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, frame: torch.Tensor, p: torch.Tensor, x: torch.Tensor, video_present: torch.Tensor,
                pose_present: torch.Tensor):
        """``frame (B, T, C)``, ``p (B, T, J, C)``, ``x (B, 2, C)`` -> updates of the same shapes."""
        batch, frames, joints, dim = p.shape
        s = min(self.stride, frames)
        per_frame = math.ceil(frames / s)
        tokens = torch.cat([frame[:, :, None], p], dim=2)  # (B, T, 1 + J, C)
        padding = torch.cat(
            [(~video_present)[:, None, None].expand(batch, frames, 1),
             (~pose_present)[:, None, None].expand(batch, frames, joints)], dim=2
        )
        extra = per_frame * s - frames  # pad time to a multiple of s with masked frames
        tokens = F.pad(tokens, (0, 0, 0, 0, 0, extra))
        padding = F.pad(padding, (0, 0, 0, extra), value=True)
        # frame t = i * s + k  ->  subset k, position i
        tokens = tokens.view(batch, per_frame, s, joints + 1, dim).transpose(1, 2).reshape(batch, s, -1, dim)
        padding = padding.view(batch, per_frame, s, joints + 1).transpose(1, 2).reshape(batch, s, -1)
        tokens = torch.cat([tokens, x[:, None].expand(-1, s, -1, -1)], dim=2).flatten(0, 1)
        padding = F.pad(padding, (0, x.shape[1]), value=False).flatten(0, 1)
        out = self.attn(tokens, tokens, tokens, key_padding_mask=padding, need_weights=False)[0]
        out = out.view(batch, s, -1, dim)
        dx = out[:, :, -x.shape[1]:].mean(dim=1)
        body = out[:, :, : -x.shape[1]].reshape(batch, s, per_frame, joints + 1, dim).transpose(1, 2)
        body = body.reshape(batch, per_frame * s, joints + 1, dim)[:, :frames]
        return body[:, :, 0], body[:, :, 1:], dx


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, ratio: float):
        hidden = int(dim * ratio)
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class CrossModalBlock(nn.Module):
    """One block: 3D deformable attention, joint-stride attention, temporal-stride attention, FFNs (pre-LN)."""

    def __init__(self, dim: int, heads: int, groups: int, stride, offset_range: float, num_joints: int,
                 joint_group: int, joint_mode: str, temporal_stride: int, mlp_ratio: float):
        super().__init__()
        self.norm_z1, self.norm_x1 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.deformable = DeformableAttention3D(dim, heads, groups, stride, offset_range)
        self.norm_p2, self.norm_x2, self.norm_f2 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.joint = JointStrideAttention(dim, heads, num_joints, joint_group, joint_mode)
        self.norm_f3, self.norm_p3, self.norm_x3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.temporal = TemporalStrideAttention(dim, heads, temporal_stride)
        self.ffn_z, self.ffn_p, self.ffn_x = FeedForward(dim, mlp_ratio), FeedForward(dim, mlp_ratio), FeedForward(dim, mlp_ratio)

    def forward(self, z, p, x, video_present, pose_present):
        dz, dx, _ = self.deformable(self.norm_z1(z), self.norm_x1(x), video_present)
        z, x = z + dz, x + dx
        dp, dxp = self.joint(self.norm_p2(p), self.norm_x2(x[:, 1]), self.norm_f2(z.mean(dim=(2, 3))),
                             pose_present, video_present)
        p, x = p + dp, x + torch.stack([torch.zeros_like(dxp), dxp], dim=1)
        dframe, dp, dx = self.temporal(self.norm_f3(z.mean(dim=(2, 3))), self.norm_p3(p), self.norm_x3(x),
                                       video_present, pose_present)
        z, p, x = z + dframe[:, :, None, None], p + dp, x + dx
        return z + self.ffn_z(z), p + self.ffn_p(p), x + self.ffn_x(x)


class DeformableCrossModalTransformer(nn.Module):
    """RGB volume + pose joint features -> L cross-modal blocks -> logits from the two cross-modal tokens.

    Args:
        dims: ``volume`` channels of the ``video`` role, ``joints`` channels of the ``pose`` role.
        roles: ``video`` and ``pose`` -> modality names.
        num_joints: V of the pose encoder's joints (e.g. 25 for NTU Kinect, 17 for COCO).
        dim, heads, depth: C, attention heads, L blocks.
        groups: 3DTS channel groups (G); ``stride``: 3DTS (s_t, s, s); ``offset_range``: r.
        joint_group, joint_mode: joint-stride group size and ``chunk`` / ``stride`` grouping.
        temporal_stride: number of interleaved temporal subsets.
        mlp_ratio: FFN width / C. ``max_frames``: size of the frame embedding table.
        dropout: before the classifier.
        time_align: how pose frames map to video frames, ``start`` or ``centre``
            (:func:`fusion.mixers._common.temporal_indices`).
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        roles: dict,
        num_joints: int = 25,
        dim: int = 256,
        heads: int = 8,
        depth: int = 4,
        groups: int = 4,
        stride: int | Sequence[int] = (2, 2, 2),
        offset_range: float = 2.0,
        joint_group: int = 5,
        joint_mode: str = "chunk",
        temporal_stride: int = 2,
        mlp_ratio: float = 4.0,
        max_frames: int = 64,
        dropout: float = 0.0,
        time_align: str = "start",
    ):
        super().__init__()
        temporal_indices(2, 1, mode=time_align)  # validates the choice at build time
        self.time_align = time_align
        self.video, self.pose = roles.get("video", "video"), roles.get("pose", "pose")
        self.num_joints = num_joints
        self.video_proj = nn.Linear(dims[self.video], dim)
        self.pose_proj = nn.Linear(dims[self.pose], dim)
        self.joint_embed = nn.Parameter(torch.randn(num_joints, dim) * 0.02)
        self.frame_embed = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
        self.cross_tokens = nn.Parameter(torch.randn(2, dim) * 0.02)  # X_r, X_p
        self.blocks = nn.ModuleList(
            CrossModalBlock(dim, heads, groups, stride, offset_range, num_joints, joint_group, joint_mode,
                            temporal_stride, mlp_ratio)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(2 * dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * dim, num_classes)
        self.out_dim = None

    def tokens(self, volume: torch.Tensor, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Z (B, T, H, W, C)`` and ``P (B, T, J, C)`` with frame (and joint) embeddings; pose aligned to T."""
        frames = volume.shape[2]
        if frames > self.frame_embed.shape[0]:
            raise ContractError(
                f"deformable: the video volume has T={frames} frames, more than max_frames={self.frame_embed.shape[0]}; "
                "raise the mixer's max_frames"
            )
        if joints.shape[-1] != self.num_joints:
            raise ContractError(
                f"deformable: pose joints tensor has V={joints.shape[-1]} joints, expected num_joints={self.num_joints}"
            )
        time = self.frame_embed[:frames]
        z = self.video_proj(volume.permute(0, 2, 3, 4, 1)) + time[:, None, None]
        p = self.pose_proj(align_time(joints, frames, dim=2, mode=self.time_align).permute(0, 2, 3, 1)) + self.joint_embed + time[:, None]
        return z, p

    def forward(self, features, masks) -> MixerOutput:
        z, p = self.tokens(features[self.video].volume, features[self.pose].joints)
        video_present, pose_present = masks[self.video], masks[self.pose]
        x = self.cross_tokens.expand(z.shape[0], -1, -1)
        for block in self.blocks:
            z, p, x = block(z, p, x, video_present, pose_present)
        fused = self.norm(x.flatten(1))
        return MixerOutput(fused=fused, logits=self.fc(self.dropout(fused)))


SPEC = MixerSpec(
    name="deformable",
    factory=DeformableCrossModalTransformer,
    needs={"video": frozenset({"volume"}), "pose": frozenset({"joints"})},
    doc="3D deformable cross-modal transformer: 3DTS attention on RGB, joint/temporal-stride attention, 2 cross tokens [INF].",
)
