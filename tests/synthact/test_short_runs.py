"""Issue 15: a 2-epoch mixer run beats chance (1/12) by a wide margin once BatchNorm statistics are
re-estimated before evaluation (precise BN); with running statistics every clip was one class (0.083).

Slow (about a minute per run on two CPU cores, SynthAct generated on first use)."""

import json
import re

import pytest

from fusion.cli import main

pytestmark = pytest.mark.slow
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def run(tmp_path, name, recipe, *overrides):
    out = tmp_path / name
    assert main(["train", str(ROOT / "recipes" / "synthact" / recipe), "--out", str(out), "train.epochs=2",
                 *overrides]) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize(("recipe", "least"), [("late.yaml", 0.85), ("concat.yaml", 0.7)])
def test_two_epoch_mixer_run_is_far_above_chance(tmp_path, capsys, recipe, least):
    """The issue's run: `late` reached 0.917 by hand with re-estimated statistics; here it is selected
    on SynthAct's validation subject (training keeps all five subjects): 0.894 measured, concat 0.79."""
    summary = run(tmp_path, "run", recipe)
    assert summary["test"]["top1"] >= least, summary["result"]  # chance 0.083
    assert summary["test"]["checkpoint"].startswith("best(val") and summary["val"]["top1"] >= 0.7
    assert "every test prediction" not in capsys.readouterr().err


def test_without_precise_bn_the_short_run_collapses_and_is_flagged(tmp_path, capsys):
    summary = run(tmp_path, "run", "late.yaml", "eval.precise_bn=false")
    assert summary["test"]["top1"] < 0.3
    assert re.search(r"every (val|test) prediction \(\d+ samples\) is class", capsys.readouterr().err)
