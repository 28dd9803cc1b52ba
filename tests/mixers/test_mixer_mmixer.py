"""M-Mixer: the MCU reduces to a GRU cell, CFEM/mean content, 2-4 modalities, masks, gradient paths."""

import pytest
import torch
from mixer_helpers import all_present, pooled_features
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.mixers.mmixer import CFEM, MCUCell, MMixer


def test_mcu_is_a_gru_cell_when_the_cross_modal_path_is_zero():
    cell = MCUCell(input_size=6, content_size=5, hidden_size=7)
    nn.init.zeros_(cell.inject.weight)
    nn.init.zeros_(cell.gate_c.weight)
    gru = nn.GRUCell(6, 7)
    with torch.no_grad():
        gru.weight_ih.copy_(cell.ih.weight)
        gru.bias_ih.copy_(cell.ih.bias)
        gru.weight_hh.copy_(cell.hh.weight)
        gru.bias_hh.copy_(cell.hh.bias)
    x, c, h = torch.randn(3, 6), torch.randn(3, 5) * 10, torch.randn(3, 7)
    assert torch.allclose(cell(x, c, h), gru(x, h), atol=1e-6)
    seq = torch.randn(3, 4, 6)
    states, h = cell.sequence(seq, c), torch.zeros(3, 7)
    for t in range(4):
        h = gru(seq[:, t], h)
        assert torch.allclose(states[:, t], h, atol=1e-6)


def test_mcu_content_changes_the_state_and_order_matters():
    cell = MCUCell(6, 5, 7)
    x, h = torch.randn(2, 6), torch.zeros(2, 7)
    assert not torch.allclose(cell(x, torch.zeros(2, 5), h), cell(x, torch.ones(2, 5), h))
    seq, c = torch.randn(2, 4, 6), torch.randn(2, 5)
    assert not torch.allclose(cell.sequence(seq, c)[:, -1], cell.sequence(seq.flip(1), c)[:, -1])


@pytest.mark.parametrize("count", [2, 3, 4])
@pytest.mark.parametrize("content", ["mean", "cfem"])
def test_shapes_for_two_to_four_modalities(count, content):
    dims = dict(list({"rgb": 6, "depth": 4, "skeleton": 5, "pointcloud": 3}.items())[:count])
    mixer = MMixer(dims, 5, {}, dim=8, hidden=6, content=content, num_queries=2, heads=2, ffn_ratio=2)
    out = mixer(pooled_features(dims), all_present(dims))
    assert out.logits.shape == (4, 5) and out.fused.shape == (4, count * 6)
    assert set(out.aux["logits_per_modality"]) == set(dims)
    assert out.aux["content"].shape == (4, count, 8)
    for m in dims:
        assert out.aux["states"][m].shape == (4, 5 + list(dims).index(m), 6)


def test_needs_two_modalities_and_valid_options():
    with pytest.raises(RecipeError, match="encoders for rgb only; expected at least 2"):
        MMixer({"rgb": 4}, 3, {})
    with pytest.raises(RecipeError, match="content='bank' is unknown; expected mean or cfem"):
        MMixer({"rgb": 4, "depth": 4}, 3, {}, content="bank")
    with pytest.raises(RecipeError, match="readout='first'"):
        MMixer({"rgb": 4, "depth": 4}, 3, {}, readout="first")


def test_frame_features_of_the_wrong_width_are_a_contract_error():
    mixer = MMixer({"rgb": 4, "depth": 6}, 3, {}, dim=8, hidden=8)
    features = pooled_features({"rgb": 4, "depth": 5})
    with pytest.raises(ContractError, match=r"mmixer: feature 'depth' \(frames\) has shape \(4, 6, 5\) but \(B, T_depth, 6\)"):
        mixer(features, all_present(features))


@pytest.mark.parametrize("content", ["mean", "cfem"])
def test_masked_modality_values_do_not_change_the_output(content):
    dims = {"rgb": 6, "depth": 4, "skeleton": 5}
    mixer = MMixer(dims, 5, {}, dim=8, hidden=6, content=content, heads=2).eval()
    features = pooled_features(dims)
    masks = all_present(dims)
    masks["depth"] = torch.tensor([True, False, True, False])
    before = mixer(features, masks)
    features["depth"].frames = features["depth"].frames * 50 - 3
    after = mixer(features, masks)
    gone = ~masks["depth"]
    assert torch.allclose(before.logits[gone], after.logits[gone], atol=1e-6)
    assert torch.allclose(before.fused[gone], after.fused[gone], atol=1e-6)
    assert not torch.allclose(before.logits[~gone], after.logits[~gone])


@pytest.mark.parametrize("content", ["mean", "cfem"])
def test_content_is_zero_when_no_other_modality_is_present(content):
    dims = {"rgb": 6, "depth": 4}
    mixer = MMixer(dims, 5, {}, dim=8, hidden=6, content=content, heads=2)
    masks = {"rgb": torch.tensor([True, True, False, True]), "depth": torch.tensor([False, True, True, True])}
    c = mixer(pooled_features(dims), masks).aux["content"]  # order: depth, rgb
    assert torch.all(c[0, 1] == 0) and torch.all(c[2, 0] == 0)
    assert c[1].abs().sum() > 0


@pytest.mark.parametrize("content", ["mean", "cfem"])
def test_rgb_stream_loss_trains_the_depth_extractor_through_the_content(content):
    dims = {"rgb": 6, "depth": 4}
    features = pooled_features(dims)
    depth_extractor = nn.Linear(4, 4)
    features["depth"].frames = depth_extractor(features["depth"].frames)
    mixer = MMixer(dims, 5, {}, dim=8, hidden=6, content=content, heads=2)
    out = mixer(features, all_present(dims))
    out.aux["states"]["rgb"][:, -1].sum().backward()
    assert depth_extractor.weight.grad.abs().sum() > 0

    depth_extractor.zero_grad()
    frozen = MMixer(dims, 5, {}, dim=8, hidden=6, content=content, heads=2, detach_content=True)
    features["depth"].frames = depth_extractor(pooled_features(dims)["depth"].frames)
    frozen(features, all_present(dims)).aux["states"]["rgb"][:, -1].sum().backward()
    assert depth_extractor.weight.grad is None or depth_extractor.weight.grad.abs().sum() == 0


def test_gradients_reach_every_branch():
    dims = {"rgb": 6, "depth": 4, "skeleton": 5}
    mixer = MMixer(dims, 5, {}, dim=8, hidden=6, content="cfem", heads=2)
    features = pooled_features(dims)
    for f in features.values():
        f.frames.requires_grad_(True)
    out = mixer(features, all_present(dims))
    (out.logits.logsumexp(-1).sum() + sum(z.logsumexp(-1).sum() for z in out.aux["logits_per_modality"].values())).backward()
    for m, f in features.items():
        assert f.frames.grad.abs().sum() > 0, m
    dead = [n for n, p in mixer.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == [], dead


def test_cfem_queries_attend_only_to_other_present_modalities():
    cfem = CFEM(num_modalities=3, dim=8, num_queries=2, heads=2, ffn_ratio=2, max_frames=8).eval()
    tokens = [torch.randn(2, 4, 8) for _ in range(3)]
    present = torch.ones(2, 3, dtype=torch.bool)
    base = cfem(tokens, present)
    changed = [tokens[0] * 5, tokens[1], tokens[2]]
    after = cfem(changed, present)
    assert torch.allclose(base[:, 0], after[:, 0], atol=1e-6)  # modality 0's content ignores itself
    assert not torch.allclose(base[:, 1], after[:, 1])
    with pytest.raises(ContractError, match="9 frames but max_frames is 8"):
        cfem([torch.randn(2, 9, 8)] * 3, present)
