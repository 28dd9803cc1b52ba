"""MAMP: exact masked counts, motion bias, masked-only loss, motion target, decoder shapes, parameter counts."""

import pytest
import torch
from torch import nn

from fusion.errors import RecipeError
from fusion_plugins.skeleton.transformer import skeleton_transformer
from fusion_plugins.ssl.mamp import MAMP, masked_mse, motion_of, normalise_tokens
from fusion_plugins.ssl.masking import token_mask, token_motion


def tiny():
    encoder = skeleton_transformer(config="small", dim=32, depth=2, heads=4, frames=16)
    objective = MAMP(encoder_dim=32, frames=16, decoder_dim=32, decoder_depth=1, decoder_heads=4)
    model = nn.Module()
    model.encoders = nn.ModuleDict({"skeleton": encoder})
    return model, objective


def test_exact_mask_counts_and_permutation():
    for tau in (0.0, 0.8):
        m = token_mask(8, 100, 0.9, torch.rand(8, 100), tau, torch.Generator().manual_seed(0))
        assert m.mask.sum(1).tolist() == [90.0] * 8  # keeps int(100·0.1) = 10, not the 9 of 100·(1 − 0.9) in floats
        assert torch.equal(m.restore.sort(1).values, torch.arange(100).expand(8, -1))
        visible = torch.zeros(8, 100).scatter(1, m.keep, 1.0)
        assert torch.equal(visible, 1 - m.mask)


def test_motion_aware_masking_prefers_moving_joint():
    seq = torch.zeros(1, 16, 25, 3)
    seq[0, :, 7, 0] = torch.sin(torch.arange(16.0))  # only joint 7 moves
    encoder = skeleton_transformer(config="small", frames=16)
    motion = token_motion(encoder.patchify(seq)).expand(400, -1)
    generator = torch.Generator().manual_seed(0)
    moving = torch.arange(100).view(4, 25)[:, 7]
    aware = token_mask(400, 100, 0.5, motion, 0.05, generator).mask[:, moving].mean()
    uniform = token_mask(400, 100, 0.5, motion, 0.0, generator).mask[:, moving].mean()
    assert aware > 0.95 and abs(float(uniform) - 0.5) < 0.06


def test_motion_target_and_normalisation():
    seq = torch.randn(2, 16, 25, 3)
    motion = motion_of(seq)
    assert torch.equal(motion[:, -1], torch.zeros(2, 25, 3))
    assert torch.allclose(motion[:, 3], seq[:, 4] - seq[:, 3])
    normal = normalise_tokens(torch.randn(5, 7, 12) * 3 + 2)
    assert torch.allclose(normal.mean(-1), torch.zeros(5, 7), atol=1e-5)
    assert torch.allclose(normal.var(-1), torch.ones(5, 7), atol=1e-3)


def test_loss_depends_on_masked_tokens_only():
    pred, target = torch.randn(2, 10, 12), torch.randn(2, 10, 12)
    mask = (torch.arange(10) % 3 == 0).float().expand(2, -1)
    perturbed = pred + (1 - mask)[..., None] * 100
    assert torch.equal(masked_mse(pred, target, mask), masked_mse(perturbed, target, mask))
    assert masked_mse(pred + mask[..., None], target, mask) != masked_mse(pred, target, mask)


def test_forward_shapes_gradients_and_decreasing_loss():
    torch.manual_seed(0)
    model, objective = tiny()
    x = torch.randn(4, 3, 16, 25, 2) * 0.1
    x[..., 1] = 0  # absent second persons are part of pre-training, as in MAMP
    encoder = model.encoders["skeleton"]
    seq = encoder.fold_persons(x)
    mask = objective.masking(encoder.patchify(seq))
    assert objective.reconstruct(encoder, seq, mask).shape == (8, 100, 12)
    params = list(model.parameters()) + list(objective.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    losses = []
    for _ in range(30):
        loss, out = objective(model, {"skeleton": x})
        assert out["logits"] is None
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    assert encoder.patch_embed.weight.grad is not None and objective.decoder.mask_token.grad is not None


def test_paper_sizes():
    encoder = skeleton_transformer(config="paper")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(encoder) == 6_336_000
    assert count(MAMP(decoder_depth=3).decoder) == 2_453_004
    assert count(MAMP(decoder_depth=5).decoder) == 4_032_524


@pytest.mark.parametrize("args, named", [({"target": "velocity"}, "argument target"),
                                         ({"mask_ratio": 1.0}, "argument mask_ratio"),
                                         ({"frames": 30, "patch": 4}, "arguments frames / patch")])
def test_bad_recipe_arguments_raise_recipe_errors_naming_them(args, named):
    with pytest.raises(RecipeError, match=f"objective mamp, {named}"):
        MAMP(**{"encoder_dim": 16, "frames": 16, "decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2, **args})


def test_pretraining_weight_decay_skips_exactly_biases_and_norms():
    """MAMP / MAE pre-training: timm's add_weight_decay rule, no skip list (embeddings and mask token decay)."""
    model, objective = tiny()
    groups = objective.param_groups(model, 0.05)
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.05 for p in g["params"]}
    named = [(f"model.{n}", p) for n, p in model.named_parameters()] + [(f"objective.{n}", p) for n, p in objective.named_parameters()]
    for name, p in named:
        assert (id(p) in decayed) == (p.ndim > 1), name
    assert id(objective.decoder.mask_token) in decayed and id(model.encoders["skeleton"].pos_embed) in decayed
