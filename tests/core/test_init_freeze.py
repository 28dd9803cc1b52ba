"""Multi-stage recipes: ``model.init`` loads an earlier run's weights, ``model.freeze`` fixes modules."""

import copy

import pytest
import torch

from fusion.errors import RecipeError
from fusion.recipe import from_dict
from fusion.train.build import build_all
from fusion.train.trainer import Trainer


def test_init_loads_encoder_and_freeze_keeps_it_fixed(toy_recipe, tmp_path):
    toy_recipe["train"]["epochs"] = 1
    first = from_dict(copy.deepcopy(toy_recipe))
    Trainer(first, tmp_path / "stage1", progress=False).fit()
    stage1 = build_all(first).module
    from fusion.train.checkpoint import find_checkpoint
    from fusion.train.eval_run import load_weights

    load_weights(stage1, find_checkpoint(tmp_path / "stage1", "best"))

    second = copy.deepcopy(toy_recipe)
    second["model"]["init"] = {"checkpoint": str(tmp_path / "stage1"), "keys": "model.encoders."}
    second["model"]["freeze"] = ["encoders"]
    recipe = from_dict(second)
    module = build_all(recipe).module
    before = {k: v.clone() for k, v in module.model.encoders.state_dict().items()}
    for key, value in before.items():
        assert torch.equal(value, stage1.model.encoders.state_dict()[key]), key
    assert all(not p.requires_grad for p in module.model.encoders.parameters())
    module.train()
    assert not any(m.training for m in module.model.encoders.modules())

    Trainer(recipe, tmp_path / "stage2", progress=False).fit()
    after = build_all(recipe).module
    load_weights(after, find_checkpoint(tmp_path / "stage2", "last"))
    for key, value in before.items():
        assert torch.equal(value, after.model.encoders.state_dict()[key]), key


def test_init_errors_name_the_problem(toy_recipe, tmp_path):
    raw = toy_recipe
    raw["model"]["init"] = {"checkpoint": str(tmp_path / "nowhere")}
    with pytest.raises(RecipeError, match="nowhere.*previous stage"):
        build_all(from_dict(raw))
    raw["model"]["init"] = {"checkpoint": str(tmp_path), "bogus": 1}
    with pytest.raises(RecipeError, match="unknown key 'bogus'"):
        build_all(from_dict(raw))
    raw["model"]["init"] = None
    raw["model"]["freeze"] = ["encoders.nope"]
    with pytest.raises(RecipeError, match="no module 'encoders.nope'"):
        build_all(from_dict(raw))


def test_objective_lifecycle_hooks_are_called(toy_recipe, tmp_path):
    toy_recipe["objective"] = {"name": "toy_counting"}
    toy_recipe["train"]["epochs"] = 2
    recipe = from_dict(copy.deepcopy(toy_recipe))
    Trainer(recipe, tmp_path / "run", progress=False).fit()
    from fusion.train.checkpoint import find_checkpoint
    from fusion.train.eval_run import load_weights

    module = build_all(recipe).module
    load_weights(module, find_checkpoint(tmp_path / "run", "last"))
    assert int(module.objective.epochs_started) == 2
    assert int(module.objective.steps_seen) == 2 * 48 // 8  # one call per optimiser step


def test_objective_logs_are_averaged_per_epoch(toy_recipe, tmp_path):
    import json

    toy_recipe["train"]["epochs"] = 2
    Trainer(from_dict(copy.deepcopy(toy_recipe)), tmp_path / "run", progress=False).fit()
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r["event"] == "epoch"]
    assert len(epochs) == 2
    assert all(r["train_ce"] > 0 for r in epochs)
    assert abs(epochs[0]["train_ce"] - epochs[0]["train_loss"]) < 1e-6  # plain CE: the only term


def test_init_list_loads_each_run_in_order_with_renames(toy_recipe, tmp_path):
    """EPAM-Net's stage B: the encoder from one file, the head (stored under another name) from a second."""
    from safetensors.torch import save_file

    state = build_all(from_dict(copy.deepcopy(toy_recipe))).module.state_dict()
    encoder = {k: torch.full_like(v, 0.5) for k, v in state.items() if k.startswith("model.encoders.") and v.is_floating_point()}
    head = {k.replace("model.head.", "model.stage_a_head."): torch.full_like(v, -2.0)
            for k, v in state.items() if k.startswith("model.head.")}
    assert encoder and head
    save_file(encoder, str(tmp_path / "encoder.safetensors"))
    save_file(head, str(tmp_path / "head.safetensors"))
    recipe = copy.deepcopy(toy_recipe)
    recipe["model"]["init"] = [
        {"checkpoint": str(tmp_path / "encoder.safetensors"), "keys": "model.encoders."},
        {"checkpoint": str(tmp_path / "head.safetensors"), "rename": {"model.stage_a_head.": "model.head."},
         "keys": "model.head."},
    ]
    loaded = build_all(from_dict(recipe)).module.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in encoder.items())
    assert all(torch.all(loaded[k.replace("model.stage_a_head.", "model.head.")] == -2.0) for k in head)
