"""fusion bench: a recipes x seeds x conditions matrix that resumes, and its report files."""

import csv
import json

import numpy as np
import pytest
import yaml

from fusion.bench.fuse import fuse_scores
from fusion.bench.matrix import load_bench, run_bench
from fusion.bench.report import COLUMNS, write_results
from fusion.errors import FusionError, RecipeError


@pytest.fixture
def bench_file(toy_recipe, tmp_path):
    toy_recipe["train"]["epochs"] = 1
    for name, dim in (("small", 8), ("wide", 32)):
        recipe = dict(toy_recipe, model={"encoders": {"skeleton": {"name": "toy_mlp", "args": {"dim": dim}}}})
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
    bench = {
        "name": "toy", "out": str(tmp_path / "out"), "seeds": [0, 1],
        "recipes": [{"name": "small", "recipe": str(tmp_path / "small.yaml")},
                    {"name": "wide", "recipe": str(tmp_path / "wide.yaml")}],
        "conditions": [{"name": "clean"}, {"name": "drop-skeleton", "drop": ["skeleton"]}],
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench))
    return path


def test_bench_runs_every_cell_resumes_and_writes_reports(bench_file, tmp_path):
    bench = load_bench(bench_file)
    rows = run_bench(bench, log=lambda *_: None)
    assert len(rows) == 2 * 2 * 2
    assert {(r["recipe"], r["seed"], r["condition"]) for r in rows} == {
        (r, s, c) for r in ("small", "wide") for s in (0, 1) for c in ("clean", "drop-skeleton")}
    assert all(r["top1"] is None for r in rows if r["condition"] == "drop-skeleton")  # no modality left
    assert rows[0]["params"] < rows[-1]["params"] and rows[0]["gflops"] > 0
    clean_eval = tmp_path / "out" / "small" / "seed-0" / "eval-clean.json"
    stamp = clean_eval.stat().st_mtime_ns

    messages = []
    again = run_bench(load_bench(bench_file), log=messages.append)
    assert clean_eval.stat().st_mtime_ns == stamp  # finished cells are not evaluated again
    assert sum("done before" in m for m in messages) == 4
    assert [r["top1"] for r in again] == [r["top1"] for r in rows]

    paths = write_results(rows, tmp_path / "out")
    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == COLUMNS and len(table) == 8
    assert len(json.loads(paths["json"].read_text())) == 8
    report = paths["report"].read_text()
    assert "| small |" in report and "± " in report and "n/a" in report
    assert paths["accuracy_vs_flops"].stat().st_size > 0 and paths["per_class"].is_file()


def test_bench_file_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"recipes": [{"recipe": "missing.yaml"}]}))
    with pytest.raises(RecipeError, match=r"recipes\[0\].recipe: no recipe file 'missing.yaml'"):
        load_bench(path)
    path.write_text(yaml.safe_dump({"recipes": [], "seed": [1]}))
    with pytest.raises(RecipeError, match="unknown key 'seed'"):
        load_bench(path)


def _save(path, scores, labels, indices):
    np.savez(path, scores=np.array(scores, dtype=np.float32), labels=np.array(labels), indices=np.array(indices))
    return path


def test_fused_scores_equal_a_hand_computation(tmp_path):
    a = _save(tmp_path / "a.npz", [[2, 0, 0], [0, 1, 0], [0, 0, 1]], [0, 1, 2], [0, 1, 2])
    # the same samples in another order; this stream alone gets sample 0 wrong
    b = _save(tmp_path / "b.npz", [[0, 0, 3], [0, 4, 0], [1, 0, 0]], [2, 1, 0], [2, 1, 0])
    result = fuse_scores([a, b], [0.5, 2.0])
    expected = 0.5 * np.array([[2, 0, 0], [0, 1, 0], [0, 0, 1]]) + 2.0 * np.array([[1, 0, 0], [0, 4, 0], [0, 0, 3]])
    np.testing.assert_allclose(result["scores"], expected)
    assert result["report"]["top1"] == 1.0
    probs = fuse_scores([a, b], softmax=True)["scores"]
    np.testing.assert_allclose(probs.sum(1), 2.0)
    with pytest.raises(FusionError, match="2 weights for 1 runs"):
        fuse_scores([a], [1, 2])
    c = _save(tmp_path / "c.npz", [[1, 0, 0]], [0], [0])
    with pytest.raises(FusionError, match="samples differ"):
        fuse_scores([a, c])
