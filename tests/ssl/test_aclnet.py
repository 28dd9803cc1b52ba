"""ACLNet: superclasses from class affinity, temperature per superclass, hard-positive margin, total loss."""

import torch
import torch.nn.functional as F
from torch import nn

from fusion.mixers.concat import ConcatMixer
from fusion.model import FusionModel
from fusion_plugins.skeleton.stgcn import stgcn
from fusion_plugins.ssl.aclnet import AffinityContrastive, superclass_temperatures


def two_groups(spread_a=0.05, spread_b=0.4):
    """Six class prototypes: classes 0-2 tightly around e0, classes 3-5 loosely around e1."""
    g = torch.Generator().manual_seed(0)
    e = torch.eye(8)
    a = F.normalize(e[0] + spread_a * torch.randn(3, 8, generator=g), dim=1)
    b = F.normalize(e[1] + spread_b * torch.randn(3, 8, generator=g), dim=1)
    return torch.cat([a, b])


def test_superclasses_follow_class_affinity_and_tight_groups_get_sharper_temperatures():
    acl = AffinityContrastive(embed_dim=8, num_classes=6, num_superclasses=2, tau_min=0.05, tau_max=0.2)
    acl.prototypes.copy_(two_groups())
    acl.refresh_superclasses()
    groups = acl.superclass.tolist()
    assert len(set(groups[:3])) == 1 and len(set(groups[3:])) == 1 and groups[0] != groups[3]
    tight, loose = acl.temperatures[0].item(), acl.temperatures[3].item()
    assert 0.05 <= tight < loose <= 0.2
    assert torch.all(acl.temperatures[:3] == acl.temperatures[0])


def test_temperature_formula_and_singletons():
    affinity = torch.tensor([[1.0, 0.6, 0.0], [0.6, 1.0, 0.1], [0.0, 0.1, 1.0]])
    temps = superclass_temperatures(affinity, torch.tensor([0, 0, 1]), tau_min=0.1, tau_max=0.3)
    torch.testing.assert_close(temps, torch.tensor([0.3 - 0.2 * 0.6, 0.3]))


def test_margin_applies_only_to_hard_positives():
    acl = AffinityContrastive(embed_dim=2, num_classes=2, num_superclasses=1, margin=0.5, affinity_weight=0.0)
    acl.prototypes.copy_(torch.eye(2))
    easy = F.normalize(torch.tensor([[1.0, 0.2]]), dim=1)   # class 0, closest to its own prototype
    hard = F.normalize(torch.tensor([[0.2, 1.0]]), dim=1)   # class 0, closer to class 1
    label = torch.tensor([0])

    def expected(z, margin):
        cos = z @ torch.eye(2)
        cos[0, 0] -= margin
        return F.cross_entropy(cos / 0.2, label)

    torch.testing.assert_close(acl.contrastive(easy, label), expected(easy, 0.0))
    torch.testing.assert_close(acl.contrastive(hard, label), expected(hard, 0.5))


def test_loss_is_ce_plus_weighted_acl_and_prototypes_get_no_gradient():
    torch.manual_seed(0)
    encoder = stgcn(config="small", channels=[8, 16], strides=[1, 2], dropout=0.0)
    mixer = ConcatMixer({"skeleton": encoder.out_dim}, 3, {})
    model = FusionModel({"skeleton": encoder}, mixer, nn.Linear(mixer.out_dim, 3)).eval()
    acl = AffinityContrastive(embed_dim=16, num_classes=3, weight=0.5, num_superclasses=2).eval()
    batch = {"skeleton": torch.randn(6, 3, 8, 25, 1), "label": torch.tensor([0, 1, 2, 0, 1, 2]),
             "mask": {"skeleton": torch.ones(6, dtype=torch.bool)}}
    acl.prototypes.copy_(F.normalize(torch.randn(3, 16), dim=1))
    loss, out = acl(model, batch)
    torch.testing.assert_close(loss.detach(), out["logs"]["ce"] + 0.5 * out["logs"]["acl"])
    loss.backward()
    assert not acl.prototypes.requires_grad and encoder.blocks[0].gcn.conv.weight.grad is not None
