"""SlowFast R50 (Feichtenhofer et al., ICCV 2019) from PyTorchVideo's ``create_slowfast``, head removed.

The encoder takes one clip and makes the two pathways itself: the fast pathway sees every frame, the
slow one every ``alpha``-th. The output volume concatenates the slow features (2048) with the fast ones
(256) average-pooled to the slow pathway's size, as SlowFast's head does before its classifier.
PyTorchVideo's ``slowfast_r50`` (8x8, alpha 4, fusion kernel 7x1x1) is the full configuration: feed
32 frames at 224^2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError
from fusion.types import EncoderSpec
from fusion_plugins.rgb.encoders._common import VIDEO_PROVIDES, VolumeEncoder, last_norm_width, load_local_checkpoint

#: CPU-test configuration: stems 8 (slow) / 1 (fast); still ResNet-50 deep.
SMALL = {"stem_dims": (8, 1)}


class SlowFastEncoder(VolumeEncoder):
    """``(B, C, T, H, W)`` (T a multiple of ``alpha``) -> volume ``(B, 2048 + 256, T / alpha, H/32, W/32)``."""

    def __init__(self, net: nn.Module, alpha: int):
        super().__init__()
        self.alpha = alpha
        self.blocks = nn.Sequential(*net.blocks[:-2])  # drop PoolConcatPathway and the head
        slow, fast = self.blocks[-1].multipathway_blocks
        self.out_dim = last_norm_width(slow) + last_norm_width(fast)

    def forward_volume(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[2]
        if frames < self.alpha:
            raise ContractError(f"slowfast: the clip {tuple(x.shape)} has {frames} frames; expected (B, C, T, H, W) "
                                f"with T >= alpha = {self.alpha}")
        slow_index = torch.linspace(0, frames - 1, frames // self.alpha, device=x.device).long()
        slow, fast = self.blocks([x.index_select(2, slow_index), x])
        return torch.cat([slow, F.adaptive_avg_pool3d(fast, slow.shape[2:])], dim=1)


def slowfast_r50(
    in_channels: int = 3,
    alpha: int = 4,
    stem_dims: tuple[int, int] = (64, 8),
    pretrained: str | None = None,
) -> SlowFastEncoder:
    """SlowFast-R50 (PyTorchVideo ``slowfast_r50``); ``pretrained`` is a local checkpoint path.

    Args:
        alpha: frame-rate ratio between the pathways (also the fusion conv's temporal stride).
        stem_dims: stem widths of the slow and fast pathways (the fast one is 1/8 of the slow one).
    """
    from pytorchvideo.models.slowfast import create_slowfast

    net = create_slowfast(
        input_channels=(in_channels, in_channels), model_depth=50, stem_dim_outs=tuple(stem_dims),
        slowfast_fusion_conv_kernel_size=(7, 1, 1), slowfast_fusion_conv_stride=(alpha, 1, 1),
    )
    if pretrained is not None:
        load_local_checkpoint(net, pretrained)
    return SlowFastEncoder(net, alpha)


SPECS = [
    EncoderSpec(name="slowfast_r50", factory=slowfast_r50, modality="rgb", provides=VIDEO_PROVIDES,
                doc="PyTorchVideo SlowFast-R50 trunk (slow 2048 + fast 256 channels, T / alpha)."),
]
