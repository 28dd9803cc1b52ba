"""Broken data end to end: ``fusion data check`` lists every bad file, ``fusion train`` fails with one sentence
naming it (``data.on_error: fail``) or skips and counts it (``skip``); never a traceback, never a hang.

The broken set comes from :mod:`broken_inputs`: a tiny NTU-layout folder with one broken file per fault
(skeleton text, videos, depth PNGs, labels) and one PySKL pickle per pickle fault.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from alarm import deadline
from broken_inputs import NTU_FAULTS, PICKLE_FAULTS, write_broken_ntu, write_broken_pickle

from fusion.cli import main

TESTS = Path(__file__).resolve().parents[1]
DEADLINE_S = 60
#: Exception names in a message mean a reader let an unexpected error through instead of explaining it.
RAW_ERRORS = re.compile(r"\b(TypeError|ValueError|IndexError|KeyError|AttributeError|RuntimeError|Traceback)\b")


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe))
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with deadline(DEADLINE_S):
        code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def subprocess_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS / "reliability"), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def broken_ntu(tmp_path_factory):
    """Every NTU fault in one folder: (recipe path, {fault: broken sample name})."""
    root = tmp_path_factory.mktemp("broken_ntu")
    recipe, broken = write_broken_ntu(root)
    return write_recipe(root / "recipe.yaml", recipe), broken


# ------------------------------------------------------------------------------------------------
# fusion data check


def test_data_check_lists_every_broken_file(broken_ntu, capsys):
    recipe, broken = broken_ntu
    code, out, err = run_cli(["data", "check", str(recipe)], capsys)
    assert code == 1, out + err
    assert f"train: {6 + len(broken)} samples, {len(broken)} bad" in out
    assert "test: 4 samples, ok" in out
    problems = dict(re.findall(r"^  (\S+): (.*)$", out, re.M))
    assert set(problems) == set(broken.values())
    for fault, name in broken.items():
        message = problems[name]
        assert name in message, (fault, message)  # the file (its path holds the sample name)
        assert re.search(NTU_FAULTS[fault][3], message), (fault, message)
    assert not RAW_ERRORS.search(out + err), out + err


def test_data_check_process_prints_no_traceback(broken_ntu):
    recipe, broken = broken_ntu
    done = subprocess.run([sys.executable, "-m", "fusion", "data", "check", str(recipe)], capture_output=True,
                          text=True, timeout=120, env=subprocess_env(), cwd=recipe.parent)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{len(broken)} bad" in done.stdout


@pytest.mark.parametrize("fault", list(PICKLE_FAULTS))
def test_data_check_and_train_on_broken_pickles(fault, tmp_path, capsys):
    recipe = write_recipe(tmp_path / "recipe.yaml", write_broken_pickle(tmp_path, fault))
    pattern = PICKLE_FAULTS[fault][1]
    code, out, err = run_cli(["data", "check", str(recipe)], capsys)
    assert code == 1 and re.search(pattern, out), out + err
    code, out, err = run_cli(["train", str(recipe), "--out", str(tmp_path / "run")], capsys)
    assert code == 2, err
    assert re.search(pattern, err) and err.startswith("fusion train: error: ") and "Traceback" not in err, err


BAD_DATA_ARGS = {
    # argument types are checked at recipe load from the reader's annotations (exit 2, before any file is read)
    "wrong type (frames)": (["data.dataset.args.num_frames=ten"], 2, r"num_frames: expected int or null, got str 'ten'"),
    "wrong type (size)": (["data.dataset.args.depth_size=big"], 2, r"depth_size: expected a list of int or null, got str"),
    "unknown key": (["data.dataset.args.skeleton_folder=x"], 2, r"skeleton_folder.*did you mean 'skeleton_dir'"),
    "bad policy": (["data.on_error=ignore"], 2, r"data\.on_error: 'ignore' is not allowed"),
}


@pytest.mark.parametrize("case", list(BAD_DATA_ARGS))
def test_data_check_on_bad_dataset_arguments(case, broken_ntu, capsys):
    overrides, expected_code, pattern = BAD_DATA_ARGS[case]
    code, out, err = run_cli(["data", "check", str(broken_ntu[0]), *overrides], capsys)
    assert code == expected_code and re.search(pattern, out + err), out + err
    assert not RAW_ERRORS.search(out + err), out + err


def test_data_check_on_bad_yaml(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n")
    code, out, err = run_cli(["data", "check", str(path)], capsys)
    assert code == 2 and re.search(r"bad\.yaml: not valid YAML", err), err


# ------------------------------------------------------------------------------------------------
# fusion train


@pytest.mark.parametrize("fault", list(NTU_FAULTS))
def test_train_fails_with_one_sentence_naming_the_file(fault, tmp_path, capsys):
    recipe, broken = write_broken_ntu(tmp_path, [fault])
    path = write_recipe(tmp_path / "recipe.yaml", recipe)
    code, out, err = run_cli(["train", str(path), "--out", str(tmp_path / "run"), "data.on_error=fail"], capsys)
    assert code == 2, out + err
    error = err.strip().splitlines()[-1]
    assert error.startswith("fusion train: error: ") and broken[fault] in error, err
    assert re.search(NTU_FAULTS[fault][3], error), err
    assert not RAW_ERRORS.search(err), err


def test_skip_trains_to_the_end_and_counts_every_broken_sample(broken_ntu, tmp_path, capsys):
    recipe, broken = broken_ntu
    run = tmp_path / "run"
    code, out, err = run_cli(["train", str(recipe), "--out", str(run), "data.on_error=skip"], capsys)
    assert code == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["skipped_per_epoch"] == [len(broken)] * 2
    assert summary["test"]["count"] == 4
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["skipped"] for e in epochs if e.get("event") == "epoch"] == [len(broken)] * 2
    assert f"skipped={len(broken)}" in out + err
    assert "Traceback" not in err


def test_two_workers_fail_with_the_same_sentence(tmp_path, capsys):
    """PyTorch re-raises a worker's error with the worker's traceback as its message; the user sees the sentence."""
    recipe, broken = write_broken_ntu(tmp_path, ["truncated video"])
    path = write_recipe(tmp_path / "recipe.yaml", recipe)
    code, out, err = run_cli(["train", str(path), "--out", str(tmp_path / "run"), "data.num_workers=2",
                              "data.on_error=fail"], capsys)
    assert code == 2, err
    assert not RAW_ERRORS.search(err), err
    error = err[err.index("fusion train: error: "):]
    assert re.fullmatch(rf"fusion train: error: \S*{broken['truncated video']}_rgb\.avi: cannot open the video[^\n]*\n",
                        error), err


@pytest.mark.slow  # worker start-up: about 10 s on a shared CPU
def test_two_workers_skip_and_count(broken_ntu, tmp_path, capsys):
    recipe, broken = broken_ntu
    run = tmp_path / "run"
    code, out, err = run_cli(["train", str(recipe), "--out", str(run), "data.on_error=skip", "data.num_workers=2",
                              "train.epochs=1"], capsys)
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["skipped_per_epoch"] == [len(broken)]
