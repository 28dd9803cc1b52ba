"""R(2+1)D-50 (Tran et al., CVPR 2018) from PyTorchVideo's ``create_r2plus1d``, head removed.

Each 3D conv is factorised into a spatial 1x3x3 and a temporal 3x1x1 conv. Stages 3 and 4 stride time
by 2, so a 16-frame clip (the full configuration, 224^2) gives a ``(B, 2048, 4, 7, 7)`` volume.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.types import EncoderSpec
from fusion_plugins.rgb.encoders._common import VIDEO_PROVIDES, VolumeEncoder, last_norm_width, load_local_checkpoint

#: CPU-test configuration: stem width 8 (stage outputs 32..256); still 50 layers deep.
SMALL = {"stem_dim": 8}


class R2Plus1DEncoder(VolumeEncoder):
    """``(B, C, T, H, W)`` -> volume ``(B, 2048, T / 4, H / 32, W / 32)`` at full width."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.blocks = nn.Sequential(*net.blocks[:-1])
        self.out_dim = last_norm_width(self.blocks)

    def forward_volume(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def r2plus1d_r50(in_channels: int = 3, stem_dim: int = 64, pretrained: str | None = None) -> R2Plus1DEncoder:
    """R(2+1)D-50 (PyTorchVideo ``r2plus1d_r50``); ``pretrained`` is a local checkpoint path."""
    from pytorchvideo.models.r2plus1d import create_r2plus1d

    net = create_r2plus1d(input_channel=in_channels, model_depth=50, stem_dim_out=stem_dim, dropout_rate=0.5)
    if pretrained is not None:
        load_local_checkpoint(net, pretrained)
    return R2Plus1DEncoder(net)


SPECS = [
    EncoderSpec(name="r2plus1d_r50", factory=r2plus1d_r50, modality="rgb", provides=VIDEO_PROVIDES,
                doc="PyTorchVideo R(2+1)D-50 trunk (2048-d, time / 4)."),
]
