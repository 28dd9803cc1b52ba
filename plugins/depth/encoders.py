"""Depth encoders: every RGB video backbone with one input channel, behind a depth normalisation.

``depth_<name>`` is the rgb encoder ``<name>`` (X3D, SlowFast, R(2+1)D, TSM over timm, X-ShiftNet) built
with ``in_channels=1`` (timm ``in_chans=1``, PyTorchVideo ``input_channel=1``); its arguments are the
RGB factory's, plus ``normalize`` and ``max_range``. A local RGB checkpoint can be given as
``pretrained``: the first conv's colour filters are summed into one (timm's ``adapt_input_conv`` rule).

Normalisation happens here, on the batch (metres), rather than in a transform, because it needs metres
and is cheap on a tensor: ``range`` maps [0, max_range] m to [0, 1] (clipped); ``standardize`` gives
each sample zero mean and unit variance over its valid pixels. Zeros (no reading) stay zero in both,
so the network can tell holes from near surfaces.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
from torch import nn

from fusion.errors import RecipeError
from fusion.types import EncoderSpec, Features
from fusion_plugins.rgb.encoders import VIDEO_FACTORIES
from fusion_plugins.rgb.encoders._common import VIDEO_PROVIDES

NORMALIZE_MODES = ("range", "standardize", "none")


def check_normalize(mode: str) -> None:
    if mode not in NORMALIZE_MODES:
        raise RecipeError(f"depth encoder: normalize={mode!r} is unknown; expected one of {', '.join(NORMALIZE_MODES)}")


def normalize_depth(depth: torch.Tensor, mode: str = "range", max_range: float = 8.0, eps: float = 1e-6) -> torch.Tensor:
    """Normalise ``(B, ...)`` depth in metres per ``mode``; pixels equal to 0 (no reading) stay 0."""
    check_normalize(mode)
    if mode == "none":
        return depth
    valid = depth > 0
    if mode == "range":
        return (depth / max_range).clamp(0.0, 1.0) * valid
    dims = tuple(range(1, depth.dim()))  # standardize
    count = valid.sum(dim=dims, keepdim=True).clamp(min=1)
    mean = (depth * valid).sum(dim=dims, keepdim=True) / count
    var = ((depth - mean).pow(2) * valid).sum(dim=dims, keepdim=True) / count
    return (depth - mean) / (var.sqrt() + eps) * valid


class DepthEncoder(nn.Module):
    """``(B, 1, T, H, W)`` metres -> normalise -> a 1-channel video backbone -> its Features."""

    def __init__(self, backbone: nn.Module, normalize: str = "range", max_range: float = 8.0):
        super().__init__()
        check_normalize(normalize)
        self.backbone, self.normalize, self.max_range = backbone, normalize, max_range
        self.out_dim = backbone.out_dim

    def forward(self, x: torch.Tensor) -> Features:
        return self.backbone(normalize_depth(x, self.normalize, self.max_range))


def depth_factory(video_factory: Callable[..., nn.Module]) -> Callable[..., DepthEncoder]:
    """A depth factory from an RGB one: its arguments minus ``in_channels``, plus ``normalize``/``max_range``.

    The signature is rebuilt explicitly so recipe validation names unknown keys, as for any encoder.
    """

    @functools.wraps(video_factory)
    def factory(*, normalize: str = "range", max_range: float = 8.0, **kwargs) -> DepthEncoder:
        return DepthEncoder(video_factory(in_channels=1, **kwargs), normalize, max_range)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
              for name, p in inspect.signature(video_factory).parameters.items() if name != "in_channels"]
    params += [inspect.Parameter("normalize", inspect.Parameter.KEYWORD_ONLY, default="range", annotation=str),
               inspect.Parameter("max_range", inspect.Parameter.KEYWORD_ONLY, default=8.0, annotation=float)]
    factory.__signature__ = inspect.Signature(params, return_annotation=DepthEncoder)
    factory.__name__ = factory.__qualname__ = f"depth_{video_factory.__name__}"
    factory.__doc__ = f"Depth (1 channel, normalised) version of ``{video_factory.__name__}``.\n\n{video_factory.__doc__ or ''}"
    return factory


FACTORIES = {f"depth_{name.removesuffix('_rgb')}": depth_factory(factory) for name, factory in VIDEO_FACTORIES.items()}

SPECS = [
    EncoderSpec(name=name, factory=factory, modality="depth", provides=VIDEO_PROVIDES,
                doc=f"{name.removeprefix('depth_')} on 1-channel depth, with range/standardize normalisation.")
    for name, factory in FACTORIES.items()
]
