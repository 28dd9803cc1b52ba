"""Temporal Shift Module (TSM, Lin et al. 2019): mix neighbouring frames at zero parameters and zero FLOPs.

One fold of channels (``C // shift_div``) is shifted one frame toward the past, the next fold one frame
toward the future, the rest stays; the frames shifted in at the sequence ends are zeros. Used by the
timm per-frame TSM encoder and by X-ShiftNet (EPAM-Net), both with the shift
applied to the input of a residual block's first convolution only ("residual shift"), so the identity
path keeps every frame's own features.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import RecipeError


def temporal_shift(x: torch.Tensor, shift_div: int = 8, time_dim: int = 2, channel_dim: int = 1) -> torch.Tensor:
    """Shift ``C // shift_div`` channels back and as many forward in time, zero-filling the ends.

    With ``f = C // shift_div`` and output ``y`` (zeros where nothing is shifted in):
    ``y[:f, t] = x[:f, t + 1]`` (toward the past), ``y[f:2f, t] = x[f:2f, t - 1]`` (toward the future),
    ``y[2f:] = x[2f:]``. Exactly ``2 * f`` channels move; with ``T = 1`` they become zeros.

    Args:
        x: any layout; ``time_dim`` and ``channel_dim`` say where T and C are, e.g. ``(B, C, T, H, W)``
            (the defaults) or ``(B, T, C, H, W)`` with ``time_dim=1, channel_dim=2``.
        shift_div: 1 / the fraction of channels shifted each way (8 for RGB, 4 for pose heatmaps).
    """
    if shift_div < 2:
        raise RecipeError(f"temporal shift: shift_div={shift_div} leaves no room for two shifted folds; expected >= 2")
    channels, frames = x.shape[channel_dim], x.shape[time_dim]
    fold = channels // shift_div
    out = torch.zeros_like(x)
    past_src, future_src = x.narrow(channel_dim, 0, fold), x.narrow(channel_dim, fold, fold)
    past_dst, future_dst = out.narrow(channel_dim, 0, fold), out.narrow(channel_dim, fold, fold)
    past_dst.narrow(time_dim, 0, frames - 1).copy_(past_src.narrow(time_dim, 1, frames - 1))
    future_dst.narrow(time_dim, 1, frames - 1).copy_(future_src.narrow(time_dim, 0, frames - 1))
    out.narrow(channel_dim, 2 * fold, channels - 2 * fold).copy_(x.narrow(channel_dim, 2 * fold, channels - 2 * fold))
    return out


class TemporalShift(nn.Module):
    """``net(temporal_shift(x))`` for 2D layers fed frames folded into the batch: ``x`` is ``(B * T, C, H, W)``.

    A 2D backbone does not know ``T``, so the encoder owning this module sets :attr:`num_frames` before
    each forward (see :func:`set_num_frames`). Wraps the first conv of a residual block, which gives the
    residual shift of the TSM paper. No parameters of its own.
    """

    def __init__(self, net: nn.Module, shift_div: int = 8):
        super().__init__()
        self.net, self.shift_div = net, shift_div
        self.num_frames = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bt, *rest = x.shape
        if bt % self.num_frames:
            raise ValueError(f"TemporalShift: batch*time {bt} is not a multiple of num_frames {self.num_frames}")
        shifted = temporal_shift(x.reshape(bt // self.num_frames, self.num_frames, *rest), self.shift_div, 1, 2)
        return self.net(shifted.reshape(bt, *rest))

    def extra_repr(self) -> str:
        return f"shift_div={self.shift_div}"


def set_num_frames(module: nn.Module, num_frames: int) -> None:
    """Tell every :class:`TemporalShift` inside ``module`` how many frames each clip has."""
    for m in module.modules():
        if isinstance(m, TemporalShift):
            m.num_frames = num_frames
