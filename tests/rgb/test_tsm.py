"""Temporal shift: zero parameters, exactly 2 * C // div channels move by one frame, zeros at the ends."""

import pytest
import torch
from torch import nn

from fusion_plugins.rgb.encoders.tsm import TemporalShift, set_num_frames, temporal_shift


def test_module_has_no_parameters():
    assert sum(p.numel() for p in TemporalShift(nn.Identity()).parameters()) == 0


@pytest.mark.parametrize("div", [8, 4])
def test_moves_exactly_two_folds(div):
    x = torch.rand(2, 32, 5, 3, 3) + 0.1
    y = temporal_shift(x, div)
    changed = (y != x).flatten(2).any(-1).any(0)  # per channel
    fold = 32 // div
    assert changed.sum() == 2 * fold and changed[: 2 * fold].all()


def test_zero_padding_and_one_frame_shift():
    x = torch.zeros(1, 16, 6, 2, 2)
    x[:, :, 2] = 1.0  # one-hot in time
    y = temporal_shift(x, 8)
    f = 2
    past, future = y[0, :f, :, 0, 0], y[0, f : 2 * f, :, 0, 0]
    assert torch.equal(past, torch.tensor([[0.0, 1, 0, 0, 0, 0]] * f))
    assert torch.equal(future, torch.tensor([[0.0, 0, 0, 1, 0, 0]] * f))
    ramp = torch.arange(1.0, 7.0).view(1, 1, 6, 1, 1).expand(1, 16, 6, 1, 1)
    shifted = temporal_shift(ramp, 8)
    assert (shifted[:, :f, -1] == 0).all() and (shifted[:, f : 2 * f, 0] == 0).all()


def test_single_frame_zeroes_moved_channels():
    y = temporal_shift(torch.ones(1, 8, 1, 2, 2), 4)
    assert (y[:, :4] == 0).all() and (y[:, 4:] == 1).all()


def test_layouts_and_folded_batch_agree():
    x = torch.rand(2, 16, 4, 3, 3)  # (B, C, T, H, W)
    reference = temporal_shift(x, 8)
    btchw = temporal_shift(x.transpose(1, 2), 8, time_dim=1, channel_dim=2).transpose(1, 2)
    assert torch.equal(reference, btchw)
    shift = TemporalShift(nn.Identity(), 8)
    set_num_frames(shift, 4)
    folded = shift(x.transpose(1, 2).reshape(8, 16, 3, 3)).reshape(2, 4, 16, 3, 3).transpose(1, 2)
    assert torch.equal(reference, folded)


def test_gradient_flows_through_shift():
    x = torch.rand(1, 8, 3, 2, 2, requires_grad=True)
    temporal_shift(x, 4).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
