"""Classification heads: shapes, hand-counted sizes and the MAMP fine-tuning model they complete."""

import pytest
import torch

from fusion.errors import RecipeError
from fusion.heads.mlp import MLPHead
from fusion.model import build_model, count_parameters
from fusion.recipe import load_recipe
from fusion.train.build import registry_for


def test_mlp_head_size_and_output():
    head = MLPHead(6400, 60, hidden=2048, dropout=0.3)
    # Linear 6400->2048, BatchNorm (gamma, beta), Linear 2048->60
    assert count_parameters(head) == 6400 * 2048 + 2048 + 2 * 2048 + 2048 * 60 + 60 == 13_236_284
    assert head.eval()(torch.randn(3, 6400)).shape == (3, 60)


def test_mlp_head_rejects_an_unknown_norm():
    with pytest.raises(RecipeError, match="model.head.args.norm.*'layer'"):
        MLPHead(8, 2, norm="layer")


def test_mamp_finetune_recipe_builds_the_papers_19_6m_model():
    recipe = load_recipe("recipes/ntu60/mamp_finetune_xsub.yaml")
    model = build_model(recipe, registry_for(recipe), num_classes=60)
    # encoder 6,336,000 (tests/skeleton) + MAMP's fine-tuning head on 25 x 256 joint features
    assert count_parameters(model.encoders["skeleton"]) == 6_336_000
    assert count_parameters(model.head) == 13_236_284
    assert count_parameters(model) == 19_572_284


def test_linear_head_batch_norm_is_parameter_free_and_standardises_the_input():
    from fusion.heads.linear import LinearHead

    head = LinearHead(256, 60, init_std=0.01, norm="batch")
    assert count_parameters(head) == 256 * 60 + 60  # BatchNorm1d(affine=False) adds none
    x = torch.randn(64, 256) * 50 + 7
    normed = head.norm(x)
    assert torch.allclose(normed.mean(0), torch.zeros(256), atol=1e-4)
    assert torch.allclose(normed.std(0, unbiased=False), torch.ones(256), atol=1e-3)
    with pytest.raises(RecipeError, match="model.head.args.norm"):
        LinearHead(8, 2, norm="group")
