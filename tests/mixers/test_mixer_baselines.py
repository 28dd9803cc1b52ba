"""Baseline mixers (late, concat, sum, attention gate): values, masks and gradients."""

import pytest
import torch
from mixer_helpers import all_present, pooled_features

from fusion.errors import ContractError, RecipeError
from fusion.mixers.attention_gate import AttentionGateMixer
from fusion.mixers.concat import ConcatMixer
from fusion.mixers.late import LateMixer
from fusion.mixers.sum import SumMixer

DIMS = {"rgb": 6, "depth": 4, "skeleton": 5}
BUILDERS = {
    "late": lambda: LateMixer(DIMS, 3, {}),
    "concat": lambda: ConcatMixer(DIMS, 3, {}, projection=8),
    "sum": lambda: SumMixer(DIMS, 3, {}, dim=8),
    "attention_gate": lambda: AttentionGateMixer(DIMS, 3, {}),
}


def output(mixer, features, masks):
    out = mixer(features, masks)
    return out.logits if out.fused is None else out.fused


@pytest.mark.parametrize("name", BUILDERS)
def test_masked_modality_values_do_not_change_the_output(name):
    mixer = BUILDERS[name]().eval()
    features = pooled_features(DIMS)
    masks = all_present(DIMS)
    masks["depth"] = torch.tensor([True, False, True, False])
    before = output(mixer, features, masks)
    features["depth"].pooled = features["depth"].pooled * 100 + 7
    after = output(mixer, features, masks)
    assert torch.allclose(before[~masks["depth"]], after[~masks["depth"]])
    assert not torch.allclose(before[masks["depth"]], after[masks["depth"]])


@pytest.mark.parametrize("name", BUILDERS)
def test_gradients_reach_every_modality(name):
    mixer = BUILDERS[name]()
    features = pooled_features(DIMS)
    for f in features.values():
        f.pooled.requires_grad_(True)
    output(mixer, features, all_present(DIMS)).square().sum().backward()
    for m, f in features.items():
        assert f.pooled.grad is not None and f.pooled.grad.abs().sum() > 0, m


def test_late_fusion_is_the_weighted_mean_of_present_branch_logits():
    mixer = LateMixer(DIMS, 3, {}, weights={"rgb": 2.0})
    features = pooled_features(DIMS)
    masks = all_present(DIMS)
    masks["skeleton"][0] = False
    out = mixer(features, masks)
    z = out.aux["logits_per_modality"]
    expected_0 = (2 * z["rgb"][0] + z["depth"][0]) / 3
    expected_1 = (2 * z["rgb"][1] + z["depth"][1] + z["skeleton"][1]) / 4
    assert torch.allclose(out.logits[0], expected_0, atol=1e-6)
    assert torch.allclose(out.logits[1], expected_1, atol=1e-6)


def test_late_fusion_rejects_weights_for_unknown_modalities():
    with pytest.raises(RecipeError, match="weights names pointcloud.*expected weights for depth, rgb, skeleton"):
        LateMixer(DIMS, 3, {}, weights={"pointcloud": 1.0})


@pytest.mark.parametrize("name", BUILDERS)
def test_features_that_break_the_out_dim_promise_are_a_contract_error(name):
    features = pooled_features(DIMS)
    features["skeleton"].pooled = torch.zeros(4, 3)
    with pytest.raises(ContractError, match=rf"{name}: feature 'skeleton' \(pooled\) has shape \(4, 3\) but \(B, 5\)"):
        BUILDERS[name]()(features, all_present(DIMS))
    features["skeleton"].pooled = torch.zeros(2, 5)  # another batch size than the other modalities
    with pytest.raises(ContractError, match=r"\(B, 5\) with B=4 as in the other features"):
        BUILDERS[name]()(features, all_present(DIMS))


def test_attention_gate_renormalises_over_present_modalities():
    mixer = AttentionGateMixer(DIMS, 3, {})
    masks = all_present(DIMS)
    masks["rgb"][:] = False
    gate = mixer(pooled_features(DIMS), masks).aux["gate"]
    assert torch.allclose(gate.sum(-1), torch.ones(4))
    assert torch.all(gate[:, mixer.order.index("rgb")] == 0)


def test_sum_mean_over_present_equals_the_single_present_projection():
    mixer = SumMixer(DIMS, 3, {}, dim=8)
    features = pooled_features(DIMS)
    masks = {m: torch.tensor([m == "rgb"] * 4) for m in DIMS}
    fused = mixer(features, masks).fused
    assert torch.allclose(fused, mixer.proj["rgb"](features["rgb"].pooled), atol=1e-6)


def test_attention_gate_normalisation_makes_it_blind_to_a_modality_s_feature_scale():
    torch.manual_seed(0)
    features = pooled_features(DIMS)
    loud = {m: type(f)(pooled=f.pooled * (100.0 if m == "depth" else 1.0)) for m, f in features.items()}
    masks = all_present(DIMS)
    normalised = AttentionGateMixer(DIMS, 3, {}).eval()
    assert torch.allclose(normalised(features, masks).fused, normalised(loud, masks).fused, atol=1e-4)
    raw = AttentionGateMixer(DIMS, 3, {}, normalize=False).eval()
    raw.load_state_dict({k: v for k, v in normalised.state_dict().items() if not k.startswith("norms")})
    assert not torch.allclose(raw(features, masks).aux["gate"], raw(loud, masks).aux["gate"], atol=1e-2)
