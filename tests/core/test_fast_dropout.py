"""The fast-path dropout (``fusion.fastpath.Dropout``): same distribution as ``nn.Dropout``, its own random stream."""

import pytest
import torch
from torch import nn

from fusion.fastpath import Dropout, dropout_mask, use_reference


@pytest.mark.parametrize("p", [0.5, 0.1, 0.9])
def test_mask_drops_the_requested_fraction_and_rescales(p):
    torch.manual_seed(0)
    mask = dropout_mask(torch.Size((64, 100, 50)), p, torch.float32)
    dropped = (mask == 0).float().mean().item()
    assert abs(dropped - p) < 0.005  # 320k draws: the standard error is under 0.001
    kept = mask[mask != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))
    assert abs(mask.mean().item() - 1.0) < 0.01  # the expectation is kept


def test_mask_lanes_are_independent_of_their_neighbours():
    """Four lanes share one 64-bit word: neighbouring elements must still be uncorrelated."""
    torch.manual_seed(1)
    keep = (dropout_mask(torch.Size((400_000,)), 0.5, torch.float32) > 0).float()
    both = (keep[:-1] * keep[1:]).mean().item()
    assert abs(both - 0.25) < 0.005


def test_seeded_masks_repeat():
    torch.manual_seed(3)
    first = dropout_mask(torch.Size((7, 11)), 0.3, torch.float64)
    torch.manual_seed(3)
    assert torch.equal(first, dropout_mask(torch.Size((7, 11)), 0.3, torch.float64))


def test_training_output_and_gradient_use_the_same_mask():
    layer = Dropout(0.5).train()
    x = torch.randn(8, 16, 5, 5, requires_grad=True)
    y = layer(x)
    y.backward(torch.ones_like(y))
    mask = y.detach() / x.detach()
    assert set(torch.unique(mask.round(decimals=4)).tolist()) <= {0.0, 2.0}
    assert torch.allclose(x.grad, mask)


def test_eval_zero_p_and_reference_defer_to_nn_dropout():
    x = torch.randn(4, 10)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    layer = use_reference(nn.Sequential(Dropout(0.5)), True)[0]
    assert layer.reference
    torch.manual_seed(5)
    expected = nn.Dropout(0.5).train()(x)
    torch.manual_seed(5)
    assert torch.equal(layer.train()(x), expected)
    assert Dropout(0.5).state_dict() == {}  # checkpoints do not change
