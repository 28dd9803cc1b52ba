"""The shared pretext interface: views, parameter groups, queue, EMA, InfoNCE."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError
from fusion_plugins.ssl.pretext import (
    FeatureQueue,
    PretextObjective,
    ema_update,
    info_nce,
    layer_decay_groups,
    split_views,
    transformer_layer_of,
)


def test_split_views_recovers_person_stacked_views():
    a, b = torch.randn(2, 3, 4, 5, 2), torch.randn(2, 3, 4, 5, 2)
    v0, v1 = split_views(torch.cat([a, b], dim=-1), 2)
    assert torch.equal(v0, a) and torch.equal(v1, b)
    with pytest.raises(ContractError, match="ssl.views"):
        split_views(torch.randn(2, 3, 4, 5, 3), 2)


def test_queue_is_a_ring_buffer_with_ids():
    queue = FeatureQueue(dim=4, size=5, with_ids=True)
    assert torch.equal(queue.ids, torch.full((5,), -1))
    keys = F.normalize(torch.randn(3, 4), dim=1)
    queue.push(keys, torch.tensor([10, 11, 12]))
    queue.push(keys, torch.tensor([20, 21, 22]))  # wraps: slots 3, 4, 0
    assert int(queue.pointer) == 1
    assert queue.ids.tolist() == [22, 11, 12, 20, 21]
    assert torch.allclose(queue.bank[0], keys[2])


def test_ema_update_matches_formula():
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = target.weight.detach().clone()
    ema_update(target, source, 0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * source.weight.detach())


def test_info_nce_is_small_for_matching_pairs():
    q = F.normalize(torch.randn(4, 8), dim=1)
    negatives = F.normalize(torch.randn(16, 8), dim=1)
    assert info_nce(q, q, negatives, 0.07) < info_nce(q, q.roll(1, 0), negatives, 0.07)


def test_layer_decay_scales_and_weight_decay_exclusion():
    layer_of = transformer_layer_of("enc.", depth=2)
    named = [("enc.patch_embed.weight", torch.zeros(2, 2)), ("enc.blocks.0.fc.weight", torch.zeros(2, 2)),
             ("enc.blocks.1.fc.bias", torch.zeros(2)), ("enc.norm.weight", torch.zeros(2)), ("head.weight", torch.zeros(2, 2))]
    groups = layer_decay_groups(named, 0.05, layer_of, 3, 0.5, base_lr=0.1)
    scale = {n: g["lr_scale"] for g in groups for n in g["names"]}
    assert scale == {"enc.patch_embed.weight": 0.125, "enc.blocks.0.fc.weight": 0.25, "enc.blocks.1.fc.bias": 0.5,
                     "enc.norm.weight": 1.0, "head.weight": 1.0}
    decay = {n: g["weight_decay"] for g in groups for n in g["names"]}
    assert decay["enc.blocks.1.fc.bias"] == 0.0 and decay["head.weight"] == 0.05
    assert all(g["lr"] == pytest.approx(0.1 * g["lr_scale"]) for g in groups)


def test_default_param_groups_cover_model_and_objective():
    class Toy(PretextObjective):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Linear(2, 2)

    model = nn.Module()
    model.encoders = nn.ModuleDict({"skeleton": nn.Linear(2, 2)})
    groups = Toy().param_groups(model, 0.05)
    assert sum(len(g["params"]) for g in groups) == 4
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
