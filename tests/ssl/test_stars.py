"""STARS: own-id exclusion, symmetric loss, partial tuning (bit-identical frozen blocks), layer decay, queue."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusion_plugins.skeleton.transformer import skeleton_transformer
from fusion_plugins.ssl.pretext import FeatureQueue
from fusion_plugins.ssl.stars import STARS, nearest_neighbour, nnclr_loss


def tiny(**kw):
    torch.manual_seed(0)
    model = nn.Module()
    model.encoders = nn.ModuleDict({"skeleton": skeleton_transformer(config="small", dim=32, depth=4, heads=4, frames=16)})
    model.head = nn.Linear(32, 3)
    return model, STARS(encoder_dim=32, feature_dim=16, proj_hidden=32, pred_hidden=32, queue_size=64, **kw)


def test_own_id_is_never_the_neighbour():
    queue = FeatureQueue(dim=8, size=16, with_ids=True)
    project = F.normalize(torch.randn(3, 8), dim=1)
    queue.push(F.normalize(torch.randn(13, 8), dim=1), torch.arange(100, 113))
    queue.push(project, torch.tensor([0, 1, 2]))  # each sample's own (identical) embedding is stored
    for topk in (0, 3):
        found = nearest_neighbour(project, queue, torch.tensor([0, 1, 2]), topk)
        assert not (found @ project.t()).diagonal().isclose(torch.ones(3)).any()
    assert torch.allclose(nearest_neighbour(project, queue, torch.tensor([7, 8, 9])), project)


def test_loss_is_symmetric_in_the_views():
    a, b, c, d = (F.normalize(torch.randn(5, 8), dim=1) for _ in range(4))
    assert torch.allclose(nnclr_loss(a, b, c, d, 0.07), nnclr_loss(b, a, d, c, 0.07))


def test_step_keeps_first_half_bit_identical_and_decays_lr():
    model, objective = tiny(base_lr=0.1, layer_decay=0.5)
    groups = objective.param_groups(model, 1e-4)
    optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    encoder = model.encoders["skeleton"]
    frozen = {n: p.detach().clone() for n, p in encoder.named_parameters()
              if n.startswith(("patch_embed", "pos_embed", "temp_embed", "blocks.0.", "blocks.1."))}
    tuned = encoder.blocks[3].mlp.fc1.weight.detach().clone()
    x = torch.randn(8, 3, 16, 25, 2)
    batch = {"skeleton": torch.cat([x, x + 0.05 * torch.randn_like(x)], dim=-1), "index": torch.arange(8)}
    loss, _ = objective(model, batch)
    loss.backward()
    optimizer.step()
    objective.on_step_end(model, 1)
    for name, before in frozen.items():
        assert torch.equal(dict(encoder.named_parameters())[name], before), name
    assert not torch.equal(encoder.blocks[3].mlp.fc1.weight, tuned)
    by_layer = {g["layer"]: g["lr"] for g in groups}
    assert by_layer == pytest.approx({3: 0.1 * 0.5**2, 4: 0.1 * 0.5, 5: 0.1})  # blocks 2, 3; norm + heads
    assert int(objective.queue.pointer) == 8 and objective.queue.ids[:8].tolist() == list(range(8))
    grads = [p.grad for g in groups for p in g["params"] if p.grad is not None]
    assert max(float(g.norm()) for g in grads) <= 3.0 + 1e-4


def test_loss_falls_on_two_clusters():
    model, objective = tiny(base_lr=0.05)
    optimizer = torch.optim.SGD(objective.param_groups(model, 0.0), lr=0.05, momentum=0.9)
    centres = torch.randn(2, 3, 16, 25, 1)
    labels = torch.arange(8) % 2
    losses = []
    for step in range(12):
        x = centres[labels] + 0.05 * torch.randn(8, 3, 16, 25, 1)
        batch = {"skeleton": torch.cat([x, x + 0.05 * torch.randn_like(x)], dim=-1), "index": torch.arange(8)}
        loss, _ = objective(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        objective.on_step_end(model, step + 1)
        losses.append(float(loss.detach()))
    assert sum(losses[-3:]) < sum(losses[:3])
