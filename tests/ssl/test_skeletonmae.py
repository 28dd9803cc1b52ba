"""SkeletonMAE: body-region masking, visible joints untouched, RCE properties, STRL shapes and initialisation."""

import pytest
import torch
from torch import nn

from fusion.errors import RecipeError
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.ssl.gin import skeleton_gin
from fusion_plugins.ssl.masking import body_region_mask
from fusion_plugins.ssl.skeletonmae import SkeletonMAE, rce_loss, strl


def test_masked_set_is_a_union_of_regions():
    layout = get_layout("ntu25")
    regions = [layout.parts[n] for n in ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")]
    mask = body_region_mask(200, regions, 25, [1, 2, 3], torch.Generator().manual_seed(0))
    member = torch.zeros(6, 25, dtype=torch.bool)
    for r, joints in enumerate(regions):
        member[r, list(joints)] = True
    for row in mask:
        whole = [r for r in range(6) if row[member[r]].all()]
        assert 1 <= len(whole) <= 3
        assert torch.equal(row, member[whole].any(0))  # no partial region


def test_mask_token_replaces_masked_joints_only():
    torch.manual_seed(0)
    objective = SkeletonMAE(encoder_dim=16, embed_dim=16)
    embedded = torch.randn(4, 25, 16)
    mask = objective.mask(4)
    replaced = torch.where(mask[..., None], objective.mask_token, embedded)
    assert torch.equal(replaced[~mask], embedded[~mask])
    assert torch.equal(replaced[mask], objective.mask_token[0].expand(int(mask.sum()), -1))


def test_rce_properties():
    x = torch.randn(10, 3)
    assert rce_loss(x, 2.5 * x) < 1e-6
    y = torch.randn(10, 3)
    assert torch.allclose(rce_loss(x, y), rce_loss(x, 3 * y))
    assert rce_loss(x, -x) <= 2.0**2 + 1e-5


def test_pretraining_loss_falls():
    torch.manual_seed(0)
    model = nn.Module()
    model.encoders = nn.ModuleDict({"skeleton": skeleton_gin(dim=16, hidden=16, layers=2)})
    objective = SkeletonMAE(encoder_dim=16, embed_dim=16, count=2)
    base = torch.randn(1, 3, 1, 25, 1)
    x = base + 0.05 * torch.randn(4, 3, 8, 25, 1)
    optimizer = torch.optim.Adam(list(model.parameters()) + list(objective.parameters()), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, out = objective(model, {"skeleton": x})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert out["logits"] is None and sum(losses[-5:]) < 0.8 * sum(losses[:5])


def test_strl_shapes_and_copies_from_pretrained_gin():
    pretrained = skeleton_gin(dim=16, hidden=16, layers=2)
    model = strl(dim=16, hidden=16, gin_layers=2, num_layers=2, persons=2, frames=8)
    state = {k: v for k, v in pretrained.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not any(".sm." in k for k in missing)
    for layer in model.layers:
        for copy in layer.sm:
            assert torch.equal(copy.layers[0].mlp[0].weight, pretrained.gin.layers[0].mlp[0].weight)
    features = model(torch.randn(2, 3, 8, 25, 2))
    assert features.pooled.shape == (2, 16) and features.joints.shape == (2, 16, 8, 25)
    assert model(torch.randn(2, 3, 12, 25, 2)).pooled.shape == (2, 16)  # other lengths interpolate the embedding


def test_bad_recipe_arguments_raise_recipe_errors_naming_them():
    with pytest.raises(RecipeError, match="argument target"):
        SkeletonMAE(target="pixels")
    with pytest.raises(RecipeError, match="argument regions: .* no part 'tail'"):
        SkeletonMAE(regions=["head", "tail"])
    with pytest.raises(RecipeError, match="argument count"):
        body_region_mask(4, [(0, 1), (2, 3)], 4, count=3)
