"""Faults a user can cause on the command line: one sentence naming the path or key, exit code 2, no traceback.

Recipe paths, hyperparameters out of range, empty splits, ``fusion eval`` on damaged runs, and the
``plugins:`` of a run someone else made (imported only with ``--trust-plugins``).
"""

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml

from fusion.cli import main
from fusion.errors import RecipeError
from fusion.recipe import from_dict
from fusion.recipe_ranges import check_ranges
from fusion.train.trainer import Trainer

TESTS = Path(__file__).resolve().parents[1]

GOOD = {
    "plugins": ["toy_plugin"],
    "data": {"dataset": {"name": "toy", "args": {"size": 16}}, "modalities": ["skeleton"]},
    "model": {"encoders": {"skeleton": {"name": "toy_mlp"}}},
    "train": {"epochs": 1, "batch_size": 8},
}


def one_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning: ")]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("fusion "), err
    return lines[0]


# ------------------------------------------------------------------ recipe paths

def test_recipe_path_that_is_a_directory(tmp_path, capsys):
    line = one_error(capsys, main(["train", str(tmp_path), "--out", str(tmp_path / "run")]))
    assert str(tmp_path) in line and "directory" in line
    assert not (tmp_path / "run").exists()


def test_recipe_path_that_is_missing(tmp_path, capsys):
    line = one_error(capsys, main(["train", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run")]))
    assert "nope.yaml" in line and "not found" in line


def test_base_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({**GOOD, "base": "dir"}))
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run")]))
    assert "dir" in line and "directory" in line


# ------------------------------------------------------------------ --out

def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(GOOD))
    (tmp_path / "taken").write_text("keep me")
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "taken")]))
    assert "is a file" in line
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "taken" / "run")]))
    assert "inside" in line
    assert (tmp_path / "taken").read_text() == "keep me"


# ------------------------------------------------------------------ hyperparameters: named at recipe load

BAD_VALUES = [
    ("train.batch_size", 0), ("train.batch_size", -8), ("eval.batch_size", 0), ("data.num_workers", -1),
    ("train.optimizer.lr", -0.1), ("train.optimizer.lr", math.nan), ("train.optimizer.lr", math.inf),
    ("train.optimizer.momentum", -0.5), ("train.optimizer.momentum", 1.0), ("train.optimizer.weight_decay", -1e-4),
    ("train.optimizer.betas", [0.9]), ("train.optimizer.betas", [0.9, 1.5]), ("train.optimizer.betas", ["a", "b"]),
    ("train.optimizer.betas", [0.9, 0.999, 0.1]), ("train.schedule.milestones", [-1]),
    ("train.schedule.milestones", [20, 10]), ("train.schedule.milestones", ["ten"]),
    ("train.schedule.milestones", [5, 5]), ("train.schedule.gamma", 0), ("train.schedule.warmup_epochs", -1),
    ("train.schedule.min_lr", math.nan), ("train.epochs", 0), ("train.accumulate", 0), ("train.eval_every", 0),
    ("train.log_every", 0), ("train.clip_grad", 0), ("train.clip_grad", -1.0), ("train.max_steps", -1),
    ("train.checkpoint_every_steps", -5), ("data.modality_dropout", 1.0), ("data.modality_dropout", -0.1),
    ("model.num_classes", 0), ("train.seed", -1), ("train.seed", 2**40), ("train.schedule.factor", 1.5),
    ("train.schedule.patience", -1),
]


def _set(recipe: dict, dotted: str, value) -> dict:
    recipe = json.loads(json.dumps(recipe))
    node = recipe
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return recipe


@pytest.mark.parametrize("key, value", BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_bad_hyperparameter_is_named_at_load(key, value):
    with pytest.raises(RecipeError, match="^" + re.escape(key) + ": "):
        from_dict(_set(GOOD, key, value))


@pytest.mark.parametrize("key, value", [("train.optimizer.lr", 0), ("train.optimizer.betas", [0.0, 0.99]),
                                        ("train.schedule.milestones", [0, 2.5, 10]), ("data.modality_dropout", 0.5),
                                        ("train.clip_grad", None), ("train.max_steps", 0)])
def test_edge_values_that_are_fine(key, value):
    check_ranges(from_dict(_set(GOOD, key, value)))


def test_bad_hyperparameter_on_the_command_line(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(GOOD))
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"),
                                   "train.optimizer.lr=.nan"]))
    assert "train.optimizer.lr: nan is out of range" in line
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ empty splits

@pytest.mark.parametrize("sizes, phase", [({"train_size": 0, "test_size": 4}, "training"),
                                           ({"train_size": 4, "test_size": 0}, "test")])
def test_empty_split_is_refused_before_training(tmp_path, capsys, monkeypatch, sizes, phase):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    recipe = {**GOOD, "plugins": ["toy_plugin", "split_plugin"], "data": {"dataset": {"name": "sized", "args": sizes}}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run")]))
    assert f"the {phase} split" in line and "has no samples" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


# ------------------------------------------------------------------ fusion eval on damaged runs

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    Trainer(from_dict(json.loads(json.dumps(GOOD))), run, progress=False).fit()
    return run


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy


def _weights(run):
    return run / "checkpoints" / "best" / "model.safetensors"


def test_eval_on_truncated_weights(run, capsys):
    _weights(run).write_bytes(_weights(run).read_bytes()[:200])
    line = one_error(capsys, main(["eval", str(run), "--checkpoint", "best", "--trust-plugins"]))
    assert "model.safetensors is damaged or truncated" in line


def test_eval_on_weights_of_another_model(run, tmp_path, capsys):
    other = tmp_path / "other"
    Trainer(from_dict(_set(GOOD, "model.encoders.skeleton.args", {"dim": 8})), other, progress=False).fit()
    shutil.copy(_weights(other), _weights(run))
    line = one_error(capsys, main(["eval", str(run), "--checkpoint", "best", "--trust-plugins"]))
    assert "weights do not match the recipe's model" in line and "size mismatch" in line


def test_eval_on_weights_that_are_not_safetensors(run, capsys):
    _weights(run).write_bytes(b"\x80\x04not a tensor file at all" * 10)
    line = one_error(capsys, main(["eval", str(run), "--checkpoint", "best", "--trust-plugins"]))
    assert "damaged or truncated" in line


@pytest.mark.parametrize("content", ["", "{", "[1, 2]", '{"epoch": "two", "global_step": 3}', "\xff\xfe"])
def test_eval_and_resume_on_a_damaged_trainer_state(run, capsys, content, tmp_path):
    for name in ("best", "last"):
        (run / "checkpoints" / name / "trainer_state.json").write_text(content, errors="surrogateescape")
    code = main(["eval", str(run), "--checkpoint", "best", "--trust-plugins"])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err  # evaluation needs only the weights
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(GOOD))
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(run), "--resume"]))
    assert "trainer_state.json" in line and "damaged" in line


def test_eval_on_a_damaged_recipe(run, capsys):
    (run / "recipe.yaml").write_text("model: [unclosed\n")
    code = main(["eval", str(run), "--trust-plugins"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.startswith(f"fusion eval: error: {run / 'recipe.yaml'}")


def test_eval_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    line = one_error(capsys, main(["eval", str(tmp_path)]))
    assert "not a run directory" in line


# ------------------------------------------------------------------ plugins: import code

EVIL = "from pathlib import Path\nPath({marker!r}).write_text('ran')\n"


def test_run_you_trained_evaluates_without_the_flag(trained, capsys):
    assert main(["eval", str(trained), "--checkpoint", "best"]) == 0
    captured = capsys.readouterr()
    assert "top-1" in captured.out and "--trust-plugins" not in captured.err, captured


def test_plugins_of_a_run_made_elsewhere_are_not_imported(run, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "pwned"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "evil_plugin.py").write_text(EVIL.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["plugins"] = ["toy_plugin", "evil_plugin"]
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))  # not the recipe this user trained
    for argv in (["eval", str(run)], ["eval", str(run), "--protocol", "knn"]):
        line = one_error(capsys, main(argv))
        assert "evil_plugin" in line and "--trust-plugins" in line
    assert not marker.exists()
    assert main(["eval", str(run), "plugins=[toy_plugin]"]) == 0  # the user's own override: evil_plugin dropped
    assert not marker.exists()
    main(["eval", str(run), "--trust-plugins"])
    assert marker.read_text() == "ran"  # the flag does import them


def test_a_copied_run_needs_the_flag_for_another_user(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FUSION_STATE_DIR", str(tmp_path / "someone-else"))
    line = one_error(capsys, main(["eval", str(run)]))
    assert "toy_plugin" in line and "--trust-plugins" in line
    assert main(["eval", str(run), "--trust-plugins"]) == 0


def test_installed_plugin_modules_need_no_flag(run, tmp_path, monkeypatch):
    from fusion.train.trust import check_plugins, foreign_plugins

    monkeypatch.setenv("FUSION_STATE_DIR", str(tmp_path / "nobody"))
    assert foreign_plugins(["fusion.builtin", "fusion_plugins.skeleton.plugin", "toy_plugin"]) == ["toy_plugin"]
    check_plugins(run, ["fusion_plugins.skeleton.plugin"])  # no error


# ------------------------------------------------------------------ command-line numbers and the disk

@pytest.mark.parametrize("argv", [["--k", "0"], ["--batch-size", "-4"], ["--epochs", "0"], ["--lr", "nan"],
                                  ["--lr", "-1"], ["--temperature", "-0.1"], ["--layer-decay", "2"],
                                  ["--label-smoothing", "inf"], ["--shots", "0"], ["--episodes", "x"]])
def test_protocol_options_out_of_range(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["eval", str(tmp_path), "--protocol", "knn", *argv])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err and f"argument {argv[0]}: expected" in err


def test_train_processes_negative(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", str(tmp_path / "r.yaml"), "--processes", "-2"])
    assert done.value.code == 2 and "argument --processes: expected an integer >= 0" in capsys.readouterr().err


def test_eval_into_a_run_on_a_full_disk_is_one_sentence(run, capsys, monkeypatch):
    import tempfile

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    line = one_error(capsys, main(["eval", str(run), "--checkpoint", "best", "--trust-plugins"]))
    assert "could not write" in line and "eval-" in line and "the disk is full" in line


def test_a_full_disk_anywhere_in_a_command_is_one_sentence(tmp_path, capsys, monkeypatch):
    import fusion.cli

    def full(args):
        raise OSError(28, "No space left on device", str(tmp_path / "metrics.jsonl"))

    monkeypatch.setattr(fusion.cli, "cmd_plugin_new", full)
    line = one_error(capsys, main(["plugin", "new", "x", "--dir", str(tmp_path)]))
    assert "metrics.jsonl: No space left on device" in line


def test_model_init_from_truncated_weights(run, tmp_path, capsys):
    _weights(run).write_bytes(_weights(run).read_bytes()[:300])
    recipe = {**GOOD, "model": {**GOOD["model"], "init": {"checkpoint": str(run)}}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    line = one_error(capsys, main(["train", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "stage2")]))
    assert "model.init" in line and "damaged or truncated" in line
