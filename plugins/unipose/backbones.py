"""Per-frame 2D backbones for the A2J lifters, returning stage-3 and stage-4 feature maps at one stride.

``resnet50``: A2J's backbone, torchvision's ResNet-50 with the last stage dilated (stride 16 for both
maps; 1024 and 2048 channels); 3 input channels (A2J repeats depth into three channels), the unused
classifier removed. ``small``: four 3x3 conv + BN + ReLU stages of a few channels at stride 8 (stage 4
dilated), for CPU tests and SynthAct's 64 px frames. No pretrained weights are fetched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.errors import RecipeError

BACKBONES = ("resnet50", "small")


class ResNetStages(nn.Module):
    """torchvision ResNet-50 trunk -> ``(layer3, layer4)``, layer 4 dilated (output stride 16)."""

    def __init__(self):
        super().__init__()
        from torchvision.models import resnet50

        net = resnet50(weights=None, replace_stride_with_dilation=[False, False, True])
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.in_channels, self.stride, self.channels = 3, 16, (1024, 2048)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stage3 = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return stage3, self.layer4(stage3)


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallStages(nn.Module):
    """Three stride-2 conv stages (stride 8) then a dilated stage: ``(stage3, stage4)``."""

    def __init__(self, in_channels: int, widths: Sequence[int] = (16, 32, 64, 64)):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.body = nn.Sequential(_conv(in_channels, w1, 2), _conv(w1, w2, 2), _conv(w2, w3, 2), _conv(w3, w3))
        self.stage4 = nn.Sequential(_conv(w3, w4, dilation=2), _conv(w4, w4, dilation=2))
        self.in_channels, self.stride, self.channels = in_channels, 8, (w3, w4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stage3 = self.body(x)
        return stage3, self.stage4(stage3)


def build_backbone(name: str, in_channels: int, widths: Sequence[int] | None = None) -> nn.Module:
    if name == "resnet50":
        return ResNetStages()
    if name == "small":
        return SmallStages(in_channels, tuple(widths or (16, 32, 64, 64)))
    raise RecipeError(f"unipose A2J lifter: backbone={name!r}; expected one of {', '.join(BACKBONES)}")
