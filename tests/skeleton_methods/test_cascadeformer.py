"""CascadeFormer invariants."""

import pytest
import torch

from fusion.errors import ContractError
from fusion_plugins.skeleton_methods.cascadeformer import (
    T1,
    CascadeFormerEncoder,
    CascadeFormerHead,
    mask_slots,
    masked_mse,
    most_active_person,
)

SMALL = dict(joints=25, channels=3, dim=32, heads=4, layers=2, ffn=64)


def test_masked_count_and_zeroed_coordinates():
    x = torch.randn(3, 16, 25, 3) + 5
    masked, mask = mask_slots(x, 0.3)
    assert torch.all(mask.sum((1, 2)) == max(1, int(0.3 * 16 * 25)))
    assert torch.all(masked[mask] == 0) and torch.equal(masked[~mask], x[~mask])


def test_loss_counts_masked_entries_only():
    x = torch.randn(2, 16, 25, 3)
    _, mask = mask_slots(x, 0.3)
    prediction = torch.where(mask[..., None], x, torch.full_like(x, 100.0))  # wrong only where unmasked
    assert masked_mse(prediction, x, mask) == 0
    prediction = torch.where(mask[..., None], x + 2.0, x)
    assert torch.isclose(masked_mse(prediction, x, mask), torch.tensor(4.0))


@pytest.mark.parametrize("variant", ["1.0", "1.1", "1.2"])
def test_variants_shapes(variant):
    dim = 50 if variant == "1.2" else 32  # 1.2 needs dim divisible by the 25 joints
    args = {**SMALL, "dim": dim, "heads": 2}
    encoder = CascadeFormerEncoder(variant=variant, **args)
    x = torch.randn(2, 3, 16, 25, 2)
    features = encoder(x)
    assert features.pooled.shape == (2, dim)
    assert CascadeFormerHead(dim, 7)(features.pooled).shape == (2, 7)
    reconstruction = torch.nn.Linear(dim, 75)(encoder.t1(most_active_person(x))).view(2, 16, 25, 3)
    assert reconstruction.shape == most_active_person(x).shape


def test_most_active_person_and_frame_limit():
    x = torch.zeros(2, 3, 8, 25, 2)
    x[0, ..., 1] = 1.0
    x[1, ..., 0] = 2.0
    x[1, ..., 1] = -1.0
    chosen = most_active_person(x)
    assert chosen.shape == (2, 8, 25, 3)
    assert torch.all(chosen[0] == 1.0) and torch.all(chosen[1] == 2.0)
    with pytest.raises(ContractError, match="64"):
        T1(25, 3, 32, 4, 1, ffn=64)(torch.randn(1, 65, 25, 3))
