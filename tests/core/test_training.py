import json

import pytest
import torch
from safetensors.torch import load_file

from fusion.cli import main
from fusion.errors import TrainingError
from fusion.recipe import from_dict
from fusion.train.trainer import Trainer


def train(recipe_dict, run_dir, resume=False, **train_overrides):
    recipe_dict = json.loads(json.dumps(recipe_dict))
    recipe_dict["train"].update(train_overrides)
    return Trainer(from_dict(recipe_dict), run_dir, resume=resume, progress=False).fit()


def weights(run_dir, name="last"):
    return load_file(str(run_dir / "checkpoints" / name / "model.safetensors"))


def test_run_directory_contents(toy_recipe, tmp_path):
    summary = train(toy_recipe, tmp_path / "run")
    run = tmp_path / "run"
    for name in ("recipe.yaml", "environment.json", "metrics.jsonl", "summary.json", "predictions.npz",
                 "curves.png", "confusion.png", "report.md"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    saved = json.loads((run / "summary.json").read_text())
    assert {"top1", "top5"} <= set(saved["test"]) and saved["epochs"] == 3 and saved["params"] > 0
    assert saved["seconds"] > 0 and saved["test"]["count"] == 48 == saved["test"]["unique_indices"]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [x for x in lines if x["event"] == "epoch"]
    assert [x["epoch"] for x in epochs] == [1, 2, 3]
    assert {"train_loss", "lr", "samples_per_s", "val_top1", "val_top5", "val_loss"} <= set(epochs[0])
    evals = [x for x in lines if x["event"] == "eval"]
    assert len(evals[0]["per_class"]) == 4
    assert summary["test"]["top1"] == saved["test"]["top1"]


def test_learns_above_chance_and_loss_decreases(toy_recipe, tmp_path):
    summary = train(toy_recipe, tmp_path / "run", epochs=8, batch_size=8)
    history = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [x["train_loss"] for x in history if x["event"] == "epoch"]
    assert losses[-1] < losses[0]
    assert summary["test"]["top1"] > 0.5  # chance is 0.25


def test_same_seed_same_metrics(toy_recipe, tmp_path):
    a = train(toy_recipe, tmp_path / "a")
    b = train(toy_recipe, tmp_path / "b")
    assert a["test"] == b["test"]
    for key, value in weights(tmp_path / "a").items():
        assert torch.equal(value, weights(tmp_path / "b")[key])


def test_resume_after_epoch_matches_uninterrupted(toy_recipe, tmp_path):
    full = train(toy_recipe, tmp_path / "full", epochs=4)
    train(toy_recipe, tmp_path / "split", epochs=4, max_steps=12)  # 6 steps per epoch: stop after epoch 2
    state = json.loads((tmp_path / "split" / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 2 and state["batch_in_epoch"] == 0
    resumed = train(toy_recipe, tmp_path / "split", resume=True, epochs=4)
    assert resumed["test"] == full["test"]
    full_w, resumed_w = weights(tmp_path / "full"), weights(tmp_path / "split")
    assert all(torch.equal(full_w[k], resumed_w[k]) for k in full_w)


def test_resume_mid_epoch_matches_uninterrupted(toy_recipe, tmp_path):
    full = train(toy_recipe, tmp_path / "full", epochs=3)
    train(toy_recipe, tmp_path / "split", epochs=3, max_steps=9)  # stops in the middle of epoch 2
    state = json.loads((tmp_path / "split" / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and state["batch_in_epoch"] == 3
    resumed = train(toy_recipe, tmp_path / "split", resume=True, epochs=3)
    assert resumed["test"] == full["test"]
    full_w, resumed_w = weights(tmp_path / "full"), weights(tmp_path / "split")
    assert all(torch.equal(full_w[k], resumed_w[k]) for k in full_w)


def test_resume_without_checkpoint_is_clear(toy_recipe, tmp_path):
    with pytest.raises(TrainingError, match="no complete checkpoint"):
        train(toy_recipe, tmp_path / "nothing", resume=True)


def test_nan_loss_stops_with_message(toy_recipe, tmp_path):
    toy_recipe["train"]["optimizer"]["lr"] = 1e30
    with pytest.raises(TrainingError, match=r"loss became (nan|inf).*Lower train.optimizer.lr"):
        train(toy_recipe, tmp_path / "nan", epochs=2)


def test_gradient_accumulation_and_clipping_run(toy_recipe, tmp_path):
    summary = train(toy_recipe, tmp_path / "acc", accumulate=2, clip_grad=1.0, epochs=2)
    assert summary["steps"] == 6  # 6 batches per epoch, 2 per optimiser step, 2 epochs


def test_bf16_precision_runs_on_cpu(toy_recipe, tmp_path):
    summary = train(toy_recipe, tmp_path / "bf16", precision="bf16", epochs=1)
    assert summary["test"]["count"] == 48


def test_eval_command_reproduces_test_metrics(toy_recipe, tmp_path, capsys):
    summary = train(toy_recipe, tmp_path / "run")
    assert main(["eval", str(tmp_path / "run"), "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert f"top-1 {summary['test']['top1']:.4f}" in out
    assert list((tmp_path / "run").glob("predictions-*.npz"))


def test_cli_train_with_overrides(tmp_path, capsys):
    import yaml

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump({
        "plugins": ["toy_plugin"],
        "data": {"dataset": {"name": "toy", "args": {"size": 32}}, "modalities": ["skeleton"]},
        "model": {"encoders": {"skeleton": {"name": "toy_mlp"}}},
    }))
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "train.epochs=1", "train.batch_size=8"]) == 0
    assert "test top-1" in capsys.readouterr().out
    assert main(["train", str(recipe), "--out", str(tmp_path / "run2"), "train.epochs=one"]) == 2
    assert "train.epochs: expected int, got str 'one'" in capsys.readouterr().err
