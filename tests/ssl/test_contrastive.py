"""Momentum-contrast parts: EMA twin, no gradient into keys/targets, lazy twin loading, losses, k-means."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError
from fusion.mixers.concat import ConcatMixer
from fusion.model import FusionModel
from fusion_plugins.skeleton.stgcn import stgcn
from fusion_plugins.ssl.contrastive import (
    MomentumBranch,
    distribution_consistency,
    multi_positive_nce,
    spherical_kmeans,
    topk_neighbour_mask,
)
from fusion_plugins.ssl.hiclr import HiCLR


def tiny_model():
    encoder = stgcn(config="small", channels=[8, 16], strides=[1, 2])
    mixer = ConcatMixer({"skeleton": encoder.out_dim}, 4, {})
    return FusionModel({"skeleton": encoder}, mixer, nn.Linear(mixer.out_dim, 4))


def test_ema_update_follows_formula_and_copies_buffers():
    online_enc, online_head = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), nn.Linear(4, 2)
    branch = MomentumBranch(momentum=0.9)
    branch.attach(online_enc, online_head)
    before = [p.clone() for p in branch.twin.parameters()]
    with torch.no_grad():
        for p in list(online_enc.parameters()) + list(online_head.parameters()):
            p.add_(1.0)
        online_enc[1].running_mean.fill_(3.0)
    branch.update(online_enc, online_head)
    online = list(online_enc.parameters()) + list(online_head.parameters())
    for old, new, src in zip(before, branch.twin.parameters(), online):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * src)
        assert not new.requires_grad
    assert torch.equal(branch.twin["encoder"][1].running_mean, torch.full((4,), 3.0))


def test_keys_carry_no_gradient_and_twin_gets_none():
    model, objective = tiny_model(), HiCLR(encoder_dim=16, queue_size=16)
    objective.attach(model)
    x = torch.randn(4, 3, 8, 25, 1)
    k = objective.keys(model, x)
    assert not k.requires_grad
    q = objective.query(model, x)
    ((q * k).sum()).backward()
    assert all(p.grad is None for p in objective.key_branch.twin.parameters())
    assert model.encoders["skeleton"].blocks[0].gcn.conv.weight.grad is not None


def test_twin_weights_in_a_checkpoint_load_before_the_twin_exists():
    model, trained = tiny_model(), HiCLR(encoder_dim=16, queue_size=16)
    trained.attach(model)
    with torch.no_grad():
        for p in trained.key_branch.twin.parameters():
            p.fill_(0.5)
    fresh = HiCLR(encoder_dim=16, queue_size=16)
    missing, unexpected = fresh.load_state_dict(trained.state_dict(), strict=False)
    assert not missing and not unexpected
    fresh.attach(model)
    assert all(torch.all(p == 0.5) for p in fresh.key_branch.twin.parameters())


def test_distribution_consistency_sends_no_gradient_to_the_teacher():
    teacher = torch.randn(3, 5, requires_grad=True)
    student = torch.randn(3, 5, requires_grad=True)
    distribution_consistency(teacher, student).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    expected = -(F.softmax(teacher, 1) * F.log_softmax(student, 1)).sum(1).mean()
    torch.testing.assert_close(distribution_consistency(teacher, student), expected)


def test_multi_positive_nce_reduces_to_cross_entropy_and_mask_takes_union():
    logits = torch.randn(4, 7)
    only_key = torch.zeros(4, 7)
    only_key[:, 0] = 1
    torch.testing.assert_close(multi_positive_nce(logits, only_key), F.cross_entropy(logits, torch.zeros(4).long()))
    a = torch.tensor([[9.0, 1.0, 5.0, 0.0]])
    b = torch.tensor([[9.0, 0.0, 1.0, 6.0]])
    assert topk_neighbour_mask([a, b], k=1).tolist() == [[1.0, 0.0, 1.0, 1.0]]


def test_spherical_kmeans_finds_separated_clusters_with_unit_centres():
    g = torch.Generator().manual_seed(0)
    axes = torch.eye(3)
    points = F.normalize(axes.repeat_interleave(20, 0) + 0.05 * torch.randn(60, 3, generator=g), dim=1)
    centres = spherical_kmeans(points, 3, generator=g)
    torch.testing.assert_close(centres.norm(dim=1), torch.ones(3))
    assert sorted((centres @ axes.t()).argmax(1).tolist()) == [0, 1, 2]
    with pytest.raises(ContractError, match="cannot make"):
        spherical_kmeans(points[:2], 3)
