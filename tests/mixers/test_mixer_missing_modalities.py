"""Missing modalities end to end: training with modality dropout, evaluation with a modality dropped."""

import json

import pytest

from fusion.recipe import from_dict
from fusion.train.eval_run import evaluate_run
from fusion.train.trainer import Trainer

MIXERS = {
    "late": {"name": "late", "args": {}},
    "mmixer": {"name": "mmixer", "args": {"dim": 16, "hidden": 16, "content": "cfem", "heads": 2, "dropout": 0.0}},
}


@pytest.mark.parametrize("mixer", MIXERS)
def test_modality_dropout_training_and_eval_drop(mixer, toy_recipe, tmp_path):
    recipe = json.loads(json.dumps(toy_recipe))
    recipe["plugins"] = ["toy_plugin", "mixer_toy_plugin"]
    recipe["data"]["modalities"] = ["skeleton", "pose2d"]
    recipe["data"]["modality_dropout"] = 0.3
    recipe["model"]["encoders"]["pose2d"] = {"name": "toy_mlp_pose_frames", "args": {"dim": 16}}
    recipe["model"]["mixer"] = MIXERS[mixer]
    recipe["train"].update(epochs=2, optimizer={"name": "adam", "lr": 0.003})
    run = tmp_path / "run"
    full = Trainer(from_dict(recipe), run, progress=False).fit()["test"]
    dropped = evaluate_run(run, overrides=["eval.drop=[pose2d]"], tag="drop_pose2d")
    assert dropped["count"] == full["count"] == 48
    assert (run / "eval-drop_pose2d.json").is_file()
    assert 0.0 <= dropped["top1"] <= 1.0 and dropped["overrides"] == ["eval.drop=[pose2d]"]
