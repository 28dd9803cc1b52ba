"""Broken recipes through the command line: one clear sentence and exit code 2, never a traceback."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from fusion.cli import main

GOOD = {
    "plugins": ["toy_plugin"],
    "data": {"dataset": {"name": "toy", "args": {"size": 16}}, "modalities": ["skeleton"]},
    "model": {"encoders": {"skeleton": {"name": "toy_mlp"}}},
    "train": {"epochs": 1, "batch_size": 8},
}

CASES = {
    "bad YAML": ("data: [unclosed\n", r"bad\.yaml.*(YAML|yaml)"),
    "unknown key": ({**GOOD, "train": {"epochs": 1, "batchsize": 8}}, r"train\.batchsize.*batch_size"),
    "wrong type": ({**GOOD, "train": {"epochs": "ten"}}, r"train\.epochs: expected int, got str 'ten'"),
    "unknown encoder": ({**GOOD, "model": {"encoders": {"skeleton": {"name": "toy_mpl"}}}}, r"toy_mpl.*toy_mlp"),
    "unknown encoder arg": (
        {**GOOD, "model": {"encoders": {"skeleton": {"name": "toy_mlp", "args": {"width": 3}}}}}, r"width"),
    "python tag": ("!!python/object/apply:os.system ['echo hacked']\n", r"bad\.yaml"),
    "label out of range": (
        {**GOOD, "model": {"num_classes": 2, "encoders": {"skeleton": {"name": "toy_mlp"}}}}, r"num_classes is 2.*4 classes"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_recipe_gives_one_clear_error(case, tmp_path, capsys):
    content, pattern = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    code = main(["train", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert re.search(pattern, err, re.S), err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_cli_process_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "train": {"epochs": -1.5}}))
    done = subprocess.run([sys.executable, "-m", "fusion", "train", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "train.epochs" in done.stderr
