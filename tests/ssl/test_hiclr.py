"""HiCLR: one-directional consistency, joint mask, mining switch, MoCo reduction, queue wrap."""

import torch
import torch.nn.functional as F
from torch import nn

from fusion.mixers.concat import ConcatMixer
from fusion.model import FusionModel
from fusion_plugins.skeleton.stgcn import stgcn
from fusion_plugins.ssl.contrastive import moco_logits
from fusion_plugins.ssl.hiclr import HiCLR, apply_joint_mask
from fusion_plugins.ssl.masking import frame_joint_mask


def setup(**args):
    torch.manual_seed(0)
    encoder = stgcn(config="small", channels=[8, 16], strides=[1, 2], dropout=0.0)
    mixer = ConcatMixer({"skeleton": encoder.out_dim}, 4, {})
    model = FusionModel({"skeleton": encoder}, mixer, nn.Linear(mixer.out_dim, 4))
    objective = HiCLR(encoder_dim=16, feature_dim=8, queue_size=16, **args)
    objective.param_groups(model, 1e-4)
    batch = {"skeleton": torch.randn(4, 3, 8, 25, 4), "label": torch.zeros(4).long()}
    return model, objective, batch


def test_joint_mask_replaces_int_v_ratio_joints_per_frame_with_the_learnable_value():
    mask = frame_joint_mask(8, 25, 0.1, generator=torch.Generator().manual_seed(0))
    assert mask.sum(1).tolist() == [2] * 8
    value = nn.Parameter(torch.tensor([0.7]))
    x = torch.randn(2, 3, 8, 25, 1)
    out = apply_joint_mask(x, mask, value)
    assert torch.all(out[:, :, mask] == 0.7) and torch.equal(out[:, :, ~mask], x[:, :, ~mask])
    out.sum().backward()
    assert value.grad.item() == 2 * 3 * 16  # every masked entry feeds the mask value


def test_consistency_gradients_flow_only_into_the_stronger_branch():
    """L_h1 = H(sg(softmax z), softmax z1): no gradient reaches the weak branch's logits."""
    model, objective, batch = setup()
    views = objective.views(batch)
    q = objective.query(model, views[0])
    q1 = objective.query(model, views[2])
    k = objective.keys(model, views[1])
    q.retain_grad()
    q1.retain_grad()
    z, z1 = (moco_logits(v, k, objective.queue.bank, 0.07) for v in (q, q1))
    from fusion_plugins.ssl.contrastive import distribution_consistency

    distribution_consistency(z, z1).backward()
    assert q.grad is None or q.grad.abs().max() == 0
    assert q1.grad.abs().max() > 0


def test_without_hierarchy_the_loss_is_moco_and_mining_switches_at_its_epoch():
    model, objective, batch = setup(hierarchical=False, mining_epoch=2)
    objective.eval()
    model.eval()
    views = objective.views(batch)
    q, k = objective.query(model, views[0]), objective.keys(model, views[1])
    z = moco_logits(q, k, objective.queue.bank, objective.temperature)
    loss, out = objective(model, batch)
    torch.testing.assert_close(loss, F.cross_entropy(z, torch.zeros(4).long()))
    assert set(out["logs"]) == {"loss", "info"}
    objective.on_epoch_start(model, 2)
    mined, _ = objective(model, batch)
    positives = torch.zeros_like(z)
    positives[:, 0] = 1
    positives.scatter_(1, z[:, 1:].argmax(1, keepdim=True) + 1, 1)
    expected = (-(F.log_softmax(z, 1) * positives).sum(1) / 2).mean()
    torch.testing.assert_close(mined, expected)


def test_full_step_combines_terms_and_the_queue_wraps():
    model, objective, batch = setup()
    for step in range(1, 6):
        loss, out = objective(model, batch)
        torch.testing.assert_close(loss.detach(), out["logs"]["info"] + (out["logs"]["h1"] + out["logs"]["h2"]) / 2)
        loss.backward()
        assert objective.mask_param.grad is not None
        objective.on_step_end(model, step)
    assert int(objective.queue.pointer) == (5 * 4) % 16
