"""TSM (Lin et al., ICCV 2019): any timm 2D backbone run per frame, with temporal shift in its residual blocks.

Frames are folded into the batch, the backbone's ``forward_features`` gives a per-frame map, and a
:class:`~fusion_plugins.rgb.encoders.tsm.TemporalShift` wrapped around the first conv of every residual
block lets each frame see its neighbours (residual shift: the identity path is left unshifted). The
result is a ``(B, D, T, h, w)`` volume, so TSM feeds the same mixers as the 3D CNNs. Backbones are built
with ``pretrained=False``; pass a local timm checkpoint file as ``pretrained`` to load weights.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import RecipeError
from fusion.types import EncoderSpec
from fusion_plugins.rgb.encoders._common import VIDEO_PROVIDES, VolumeEncoder, load_local_checkpoint
from fusion_plugins.rgb.encoders.tsm import TemporalShift, set_num_frames

#: timm residual block class name -> its first conv, where the shift goes. Blocks with ``has_skip``
#: (MobileNet/EfficientNet) are shifted only when they actually have the skip connection.
SHIFT_POINTS = {
    "BasicBlock": "conv1",  # ResNet-18/34
    "Bottleneck": "conv1",  # ResNet-50+, ResNeXt, RegNet
    "InvertedResidual": "conv_pw",  # MobileNetV2/V3, EfficientNet
    "DepthwiseSeparableConv": "conv_dw",
    "ConvNeXtBlock": "conv_dw",
}

#: CPU-test configuration.
SMALL = {"backbone": "resnet18"}


def insert_temporal_shift(model: nn.Module, shift_div: int) -> int:
    """Wrap the first conv of every residual block of a timm model in TemporalShift; returns how many."""
    count = 0
    for block in list(model.modules()):
        attr = SHIFT_POINTS.get(type(block).__name__)
        if attr is None or not getattr(block, "has_skip", True) or not hasattr(block, attr):
            continue
        setattr(block, attr, TemporalShift(getattr(block, attr), shift_div))
        count += 1
    return count


class TSMEncoder(VolumeEncoder):
    """``(B, C, T, H, W)`` -> per-frame timm features with temporal shift -> volume ``(B, D, T, h, w)``."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.out_dim = backbone.num_features

    def forward_volume(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, frames, height, width = x.shape
        set_num_frames(self.backbone, frames)
        per_frame = x.transpose(1, 2).reshape(batch * frames, channels, height, width)
        maps = self.backbone.forward_features(per_frame)  # (B * T, D, h, w)
        return maps.reshape(batch, frames, *maps.shape[1:]).transpose(1, 2)


def tsm(backbone: str = "resnet50", in_channels: int = 3, shift_div: int = 8, pretrained: str | None = None) -> TSMEncoder:
    """TSM over a timm backbone (``resnet50`` as in the paper; e.g. ``resnet18``, ``mobilenetv3_small_100``).

    Args:
        in_channels: 3 for RGB, 1 for depth (timm ``in_chans``).
        shift_div: 1 / the fraction of channels shifted each way (8: 1/8 back, 1/8 forward).
        pretrained: a local timm checkpoint file, loaded before the shifts are inserted.
    """
    import timm

    model = timm.create_model(backbone, pretrained=False, num_classes=0, global_pool="", in_chans=in_channels)
    if pretrained is not None:
        load_local_checkpoint(model, pretrained)
    if insert_temporal_shift(model, shift_div) == 0:
        raise RecipeError(
            f"tsm: backbone {backbone!r} has no residual block TSM knows ({', '.join(SHIFT_POINTS)}); "
            "pick a ResNet, RegNet, MobileNet, EfficientNet or ConvNeXt"
        )
    return TSMEncoder(model)


SPECS = [
    EncoderSpec(name="tsm", factory=tsm, modality="rgb", provides=VIDEO_PROVIDES,
                doc="TSM: a timm 2D backbone per frame with temporal shift in its residual blocks."),
]
