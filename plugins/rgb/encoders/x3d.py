"""X3D (Feichtenhofer, CVPR 2020) from PyTorchVideo's ``create_x3d`` builder, classifier head removed.

The trunk keeps X3D's conv5 (1x1x1 192 -> 432, BN, ReLU, the first layer of PyTorchVideo's head) so the
volume has the paper's 432 channels; the pooling, the 2048-d projection and the classifier are dropped.
XS, S and M share one architecture and differ only in their input, which the transforms set
(:data:`PAPER_INPUTS`: frames, crop size); the encoder is fully convolutional and accepts any size.
Only ``pytorchvideo.models`` is imported (``pytorchvideo.transforms`` is broken with torchvision >= 0.17).
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.types import EncoderSpec
from fusion_plugins.rgb.encoders._common import VIDEO_PROVIDES, VolumeEncoder, load_local_checkpoint

#: The paper's input per variant: (frames, crop size).
PAPER_INPUTS = {"x3d_xs": (4, 160), "x3d_s": (13, 160), "x3d_m": (16, 224), "x3d_l": (16, 312)}

#: CPU-test configuration: widths 8/16/32/64 (conv5 144), one block per stage.
SMALL = {"width_factor": 1.0, "depth_factor": 0.2, "stem_dim": 8}


class X3DEncoder(VolumeEncoder):
    """PyTorchVideo X3D without its head: ``(B, C, T, H, W)`` -> volume ``(B, 432, T, H/32, W/32)`` (full width)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        pool = net.blocks[-1].pool
        self.blocks = nn.Sequential(*net.blocks[:-1])
        self.conv5 = nn.Sequential(pool.pre_conv, pool.pre_norm, pool.pre_act)
        self.out_dim = pool.pre_conv.out_channels

    def forward_volume(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv5(self.blocks(x))


def create_x3d_encoder(
    variant: str, in_channels: int, width_factor: float, depth_factor: float, stem_dim: int, pretrained: str | None
) -> X3DEncoder:
    """Build with ``create_x3d``, load a local checkpoint into the full network (official keys), drop the head."""
    from pytorchvideo.models.x3d import create_x3d

    frames, crop = PAPER_INPUTS[variant]
    net = create_x3d(
        input_channel=in_channels, input_clip_length=frames, input_crop_size=crop,
        width_factor=width_factor, depth_factor=depth_factor, stem_dim_in=stem_dim,
    )
    if pretrained is not None:
        load_local_checkpoint(net, pretrained)
    return X3DEncoder(net)


def x3d_xs(in_channels: int = 3, width_factor: float = 2.0, depth_factor: float = 2.2, stem_dim: int = 12,
           pretrained: str | None = None) -> X3DEncoder:
    """X3D-XS (paper input 4 x 160^2); ``pretrained`` is a local PyTorchVideo checkpoint path."""
    return create_x3d_encoder("x3d_xs", in_channels, width_factor, depth_factor, stem_dim, pretrained)


def x3d_s(in_channels: int = 3, width_factor: float = 2.0, depth_factor: float = 2.2, stem_dim: int = 12,
          pretrained: str | None = None) -> X3DEncoder:
    """X3D-S (paper input 13 x 160^2); same network as XS."""
    return create_x3d_encoder("x3d_s", in_channels, width_factor, depth_factor, stem_dim, pretrained)


def x3d_m(in_channels: int = 3, width_factor: float = 2.0, depth_factor: float = 2.2, stem_dim: int = 12,
          pretrained: str | None = None) -> X3DEncoder:
    """X3D-M (paper input 16 x 224^2); same network as XS."""
    return create_x3d_encoder("x3d_m", in_channels, width_factor, depth_factor, stem_dim, pretrained)


def x3d_l(in_channels: int = 3, width_factor: float = 2.0, depth_factor: float = 5.0, stem_dim: int = 12,
          pretrained: str | None = None) -> X3DEncoder:
    """X3D-L (paper input 16 x 312^2): depth factor 5."""
    return create_x3d_encoder("x3d_l", in_channels, width_factor, depth_factor, stem_dim, pretrained)


FACTORIES = {"x3d_xs": x3d_xs, "x3d_s": x3d_s, "x3d_m": x3d_m, "x3d_l": x3d_l}
SPECS = [
    EncoderSpec(name=name, factory=factory, modality="rgb", provides=VIDEO_PROVIDES,
                doc=f"PyTorchVideo {name.upper().replace('_', '-')} trunk + conv5 (432-d); paper input "
                    f"{PAPER_INPUTS[name][0]}x{PAPER_INPUTS[name][1]}^2.")
    for name, factory in FACTORIES.items()
]
