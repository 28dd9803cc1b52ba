"""X-ShiftNet, the two backbones of EPAM-Net (Abdelkawy et al., Neurocomputing 2025).

An X3D network made "2D": every 3D conv becomes a depthwise 1x3x3 conv, the temporal stem conv is
removed, and time is mixed only by a temporal shift at the input of each block's first conv. Built
exactly as the official ``X3DTemporalShift`` / ``X3DTemporalShiftPose`` (module names included, so
their checkpoints load after removing the ``backbone.`` prefix):

* RGB stream (``xshiftnet_rgb``): stem 1x3x3 stride (1,2,2) 3->24, stages of [3, 5, 11, 7] blocks with
  widths (out/planes) 24/54, 48/108, 96/216, 192/432, conv5 192->432, shift div 8. Input
  ``(B, 3, 16, 224, 224)`` gives a volume ``(B, 432, 16, 7, 7)``.
* Pose stream (``xshiftnet_pose``): 17 keypoint heatmaps in, stem stride 1, stages [5, 11, 7] (24/54,
  48/108, 96/216), conv5 96->216, shift div 4 (half the channels move). Input ``(B, 17, 48, 56, 56)``
  gives ``(B, 216, 48, 7, 7)``.

Neither stream downsamples time. Small configurations for CPU tests: :data:`RGB_SMALL`, :data:`POSE_SMALL`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import RecipeError
from fusion.fastpath import eager_cpu, fold_into_conv, is_norm
from fusion.types import EncoderSpec
from fusion_plugins.rgb.encoders._common import VIDEO_PROVIDES, VolumeEncoder, load_local_checkpoint
from fusion_plugins.rgb.encoders.tsm import temporal_shift

#: CPU-test configurations: base width 8, one block per stage.
RGB_SMALL = {"base_channels": 8, "stage_blocks": (1, 1, 1, 1)}
POSE_SMALL = {"base_channels": 8, "stage_blocks": (1, 1, 1)}


def time_gradient(x: torch.Tensor, dim: int = 2) -> torch.Tensor:
    """``torch.gradient(x, dim=dim)[0]`` written out (one-sided at the ends, central inside), bit for bit;
    ``torch.gradient`` fixes the batch size when a model is exported (``fusion export``)."""
    t = x.shape[dim]
    first = x.narrow(dim, 1, 1) - x.narrow(dim, 0, 1)
    last = x.narrow(dim, t - 1, 1) - x.narrow(dim, t - 2, 1)
    return torch.cat([first, (x.narrow(dim, 2, t - 2) - x.narrow(dim, 0, t - 2)) / 2, last], dim)


def se_width(channels: int, ratio: float, divisor: int = 8) -> int:
    """SE bottleneck width as in X3D: round ``channels * ratio`` to a multiple of 8 (at least 8), +8 if <90%."""
    width = channels * ratio
    rounded = max(divisor, int(width + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * width else rounded)


def shifted(x: torch.Tensor, shift_div: int) -> torch.Tensor:
    """:func:`temporal_shift` on ``(B, C, T, H, W)`` as one concatenation of zero-padded slices (no zero-filled
    copy of the whole tensor to write into); the same values, bit for bit."""
    if shift_div < 2:
        return temporal_shift(x, shift_div)  # refuses it in one sentence
    fold = x.shape[1] // shift_div
    past = F.pad(x[:, :fold, 1:], (0, 0, 0, 0, 0, 1))
    future = F.pad(x[:, fold:2 * fold, :-1], (0, 0, 0, 0, 1, 0))
    return torch.cat([past, future, x[:, 2 * fold:]], 1)


def conv_1xkxk(conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for X-ShiftNet's frame-wise convs without PyTorch's slow 3D kernels (same sums, other order).

    A 1x1x1 conv is one matrix product over the ``(B, C, T·H·W)`` view; a depthwise 1xkxk conv is a
    depthwise 2D conv over the ``(B, C·T, H, W)`` view (each channel's filter repeated over its T frames).
    On CPU both measured 2-4x faster than ``conv3d`` in training (its depthwise backward is slow). Other
    geometries (the dense 1x3x3 stem) run oneDNN's 3D conv in float32 CPU inference, else ``conv`` itself.
    """
    kt, kh, kw = conv.kernel_size
    st, sh, sw = conv.stride
    if (kt != 1 or st != 1 or isinstance(conv.padding, str) or conv.padding[0] != 0 or conv.dilation != (1, 1, 1)
            or conv.padding_mode != "zeros"):
        return conv(x)
    b, c, t, h, w = x.shape
    if (kh, kw) == (1, 1) and conv.groups == 1 and conv.padding == (0, 0, 0):
        if (sh, sw) != (1, 1):
            x = x[:, :, :, ::sh, ::sw]
        h, w = x.shape[3], x.shape[4]
        weight = conv.weight.view(conv.out_channels, c)
        flat = x.reshape(b, c, t * h * w)
        single = x.reshape(c, t * h * w) if b == 1 else None  # a view: no select whose backward fills zeros
        if conv.bias is None:
            y = torch.mm(weight, single) if b == 1 else torch.matmul(weight, flat)
        elif b == 1:  # a folded BN's bias: added by the product (beta = 1), not in a pass of its own
            y = torch.addmm(conv.bias[:, None], weight, single)
        else:
            y = torch.baddbmm(conv.bias[None, :, None], weight.expand(b, -1, -1), flat)
        return y.view(b, conv.out_channels, t, h, w)
    if conv.groups == c == conv.out_channels:
        weight = conv.weight[:, :, 0].repeat_interleave(t, 0)
        bias = None if conv.bias is None else conv.bias.repeat_interleave(t)
        y = F.conv2d(x.reshape(b, c * t, h, w), weight, bias, (sh, sw), conv.padding[1:], 1, c * t)
        return y.view(b, c, t, *y.shape[2:])
    if x.dtype == torch.float32 and torch.backends.mkldnn.is_available() and not torch.is_grad_enabled() \
            and eager_cpu(x):
        # inference, the dense 1x3x3 stem: conv3d takes its slow im2col path, oneDNN's 3D conv was 2x faster
        # (training keeps conv3d: oneDNN's weight gradient summed in another order drifted past 1e-5)
        return torch.ops.aten.mkldnn_convolution(x, conv.weight, conv.bias, conv.padding, conv.stride,
                                                 conv.dilation, conv.groups)
    return conv(x)


class ConvBN(nn.Module):
    """Conv3d without bias, BatchNorm, optional ReLU (mmcv ``ConvModule`` names: ``conv``, ``bn``).

    The fast path (default) runs the conv through :func:`conv_1xkxk`; ``reference = True`` runs ``conv`` as is.
    """

    #: True: :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def __init__(self, cin: int, cout: int, kernel=1, stride=1, padding=0, groups: int = 1, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm3d(cout)
        self.activate = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference:
            return self.forward_reference(x)
        return self.activate(self.bn(conv_1xkxk(self.conv, x)))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))

    def fold_batchnorm(self) -> None:
        """Inference: fold the BN into the conv (``fusion.fastpath.fuse_for_inference``)."""
        if is_norm(self.bn):
            fold_into_conv(self.conv, self.bn)
            self.bn = nn.Identity()


class SEModule(nn.Module):
    """Squeeze-excitation: GAP -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> sigmoid -> scale."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        hidden = se_width(channels, ratio)
        self.fc1 = nn.Conv3d(channels, hidden, 1)
        self.fc2 = nn.Conv3d(hidden, channels, 1)

    #: True: :meth:`forward_reference`, the 1x1x1 convs on the pooled volume (fast: Linear on the pooled vector).
    reference = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference:
            return self.forward_reference(x)
        pooled = x.mean(dim=(2, 3, 4))
        hidden = torch.relu(F.linear(pooled, self.fc1.weight.flatten(1), self.fc1.bias))
        scale = torch.sigmoid(F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias))
        return x * scale[:, :, None, None, None]

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3, 4), keepdim=True)))))


class ShiftBlock(nn.Module):
    """``ReLU(id(x) + BN3(W3 Swish(SE?(BN2(DW_1x3x3(ReLU(BN1(W1 shift(x)))))))))``.

    The shift acts before ``conv1`` only, so the identity path sees unshifted frames (residual shift).
    """

    def __init__(
        self, cin: int, planes: int, cout: int, spatial_stride: int, shift_div: int, se_ratio: float | None
    ):
        super().__init__()
        self.shift_div = shift_div
        self.conv1 = ConvBN(cin, planes, 1)
        self.conv2 = ConvBN(
            planes, planes, (1, 3, 3), (1, spatial_stride, spatial_stride), (0, 1, 1), groups=planes, relu=False
        )
        self.se_module = SEModule(planes, se_ratio) if se_ratio else None
        self.swish = nn.SiLU()
        self.conv3 = ConvBN(planes, cout, 1, relu=False)
        needs_projection = spatial_stride != 1 or cin != cout
        self.downsample = ConvBN(cin, cout, 1, (1, spatial_stride, spatial_stride), relu=False) if needs_projection else None
        self.relu = nn.ReLU(inplace=True)

    #: True: :meth:`forward_reference` (the shift as :func:`temporal_shift`); fast: :func:`shifted`.
    reference = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference:
            return self.forward_reference(x)
        return self._after_shift(x, shifted(x, self.shift_div))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self._after_shift(x, temporal_shift(x, self.shift_div))

    def _after_shift(self, x: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(moved))
        if self.se_module is not None:
            out = self.se_module(out)
        out = self.conv3(self.swish(out))
        identity = x if self.downsample is None else self.downsample(x)
        if not torch.is_grad_enabled() and not self.reference:  # inference: no new tensor for the sum
            return out.add_(identity).relu_()
        return self.relu(out + identity)


class XShiftNet(VolumeEncoder):
    """X-ShiftNet backbone: ``(B, C_in, T, H, W)`` -> Features(volume ``(B, D, T, H/s, W/s)``, frames, pooled).

    Args:
        in_channels: 3 for RGB, 17 for COCO keypoint heatmaps, 1 for depth.
        base_channels: width of the stem and the first stage; stage ``i`` has ``base * 2**i`` channels.
        stage_blocks: blocks per stage (its length is the number of stages).
        stem_stride: spatial stride of the 1x3x3 stem (2 for RGB, 1 for pose heatmaps).
        gamma_b: bottleneck expansion; planes = ``int(width * gamma_b)``, conv5 width too.
        shift_div: TSM divisor (8: a quarter of the channels move; 4: half).
        se_ratio: SE reduction on the even-indexed blocks of each stage; ``None`` disables SE.
        frame_difference: also feed the temporal derivative of the input (central differences,
            ``torch.gradient`` over T) as extra stem channels. Off in the paper configuration. Trained
            from scratch on small data, a per-frame 2D trunk whose only temporal mixing is a shift of
            ``C / shift_div`` channels learns appearance, not motion; the derivative hands it motion.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 24,
        stage_blocks: Sequence[int] = (3, 5, 11, 7),
        stem_stride: int = 2,
        gamma_b: float = 2.25,
        shift_div: int = 8,
        se_ratio: float | None = 1 / 16,
        frame_difference: bool = False,
    ):
        super().__init__()
        self.frame_difference = frame_difference
        stem_in = 2 * in_channels if frame_difference else in_channels
        self.conv1_s = ConvBN(stem_in, base_channels, (1, 3, 3), (1, stem_stride, stem_stride), (0, 1, 1))
        cin = base_channels
        self.res_layers: list[str] = []
        for i, blocks in enumerate(stage_blocks):
            cout = base_channels * 2**i
            planes = int(cout * gamma_b)
            layer = nn.Sequential(
                *(
                    ShiftBlock(cin if b == 0 else cout, planes, cout, 2 if b == 0 else 1, shift_div,
                               se_ratio if b % 2 == 0 else None)
                    for b in range(blocks)
                )
            )
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
            cin = cout
        self.out_dim = int(cin * gamma_b)
        self.conv5 = ConvBN(cin, self.out_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming (fan_out) convs, BN gamma 1, and gamma 0 on each block's last BN (zero-init residual)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, ShiftBlock):
                nn.init.zeros_(m.conv3.bn.weight)

    def forward_volume(self, x: torch.Tensor) -> torch.Tensor:
        if self.frame_difference:
            motion = time_gradient(x) if x.shape[2] > 1 else torch.zeros_like(x)
            x = torch.cat([x, motion], dim=1)
        x = self.conv1_s(x)
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return self.conv5(x)


def _build(pretrained: str | os.PathLike | None, **kwargs) -> XShiftNet:
    model = XShiftNet(**kwargs)
    if pretrained is not None:
        load_local_checkpoint(model, pretrained)
    return model


def xshiftnet_rgb(
    in_channels: int = 3,
    base_channels: int = 24,
    stage_blocks: Sequence[int] = (3, 5, 11, 7),
    shift_div: int = 8,
    frame_difference: bool = False,
    stem_stride: int = 2,
    pretrained: str | None = None,
) -> XShiftNet:
    """EPAM-Net's RGB X-ShiftNet (X3D-M-like, 432-d): ``(B, 3, T, H, W)`` -> volume ``(B, 432, T, H/32, W/32)``.

    ``pretrained``: a local checkpoint file (never downloaded). ``frame_difference``: see :class:`XShiftNet`
    (a small-data option; the paper configuration leaves it off). ``stem_stride``: 2 in the paper; 1 halves
    the total stride to 16, for small frames (64 px -> 4 x 4 maps) where 2 x 2 maps cannot say where the
    hands are.
    """
    if stem_stride not in (1, 2):
        raise RecipeError(f"xshiftnet_rgb: stem_stride must be 1 or 2, got {stem_stride!r}")
    return _build(pretrained, in_channels=in_channels, base_channels=base_channels,
                  stage_blocks=tuple(stage_blocks), stem_stride=stem_stride, shift_div=shift_div,
                  frame_difference=frame_difference)


def xshiftnet_pose(
    in_channels: int = 17,
    base_channels: int = 24,
    stage_blocks: Sequence[int] = (5, 11, 7),
    shift_div: int = 4,
    pretrained: str | None = None,
) -> XShiftNet:
    """EPAM-Net's pose X-ShiftNet on keypoint heatmaps ``(B, 17, T, H, W)`` -> volume ``(B, 216, T, H/8, W/8)``.

    It reads heatmaps, not keypoints: the Gaussian heatmaps (sigma 0.6 on a 56x56 grid, amplitude =
    detector score, max over persons) are made from ``pose2d`` keypoints by the EPAM-Net mixer, which
    calls this backbone itself. Registered under modality ``pose2d`` so a recipe can name it; used as a
    stand-alone encoder its batch tensor must already be heatmaps.
    """
    return _build(pretrained, in_channels=in_channels, base_channels=base_channels,
                  stage_blocks=tuple(stage_blocks), stem_stride=1, shift_div=shift_div)


SPECS = [
    EncoderSpec(
        name="xshiftnet_rgb", factory=xshiftnet_rgb, modality="rgb", provides=VIDEO_PROVIDES,
        doc="EPAM-Net RGB X-ShiftNet: X3D-M-like 2D CNN with temporal shift (432-d, no temporal stride).",
    ),
    EncoderSpec(
        name="xshiftnet_pose", factory=xshiftnet_pose, modality="pose2d", provides=VIDEO_PROVIDES,
        doc="EPAM-Net pose X-ShiftNet on 17 keypoint heatmaps (B, 17, T, H, W) (216-d); heatmaps come from the mixer.",
    ),
]
