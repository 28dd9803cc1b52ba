"""Evaluation protocols on a toy feature set and end to end on a toy run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion.cli import main
from fusion.errors import RecipeError
from fusion_plugins.ssl.protocols import (
    ProtocolOptions,
    few_shot,
    knn_scores,
    labelled_subset,
    linear_probe,
    run_protocol,
    single_view,
)


def toy_features(n=60, classes=3, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=g) * 3
    return centres[labels] + torch.randn(n, dim, generator=g), labels


def test_knn_one_nearest_and_weighted():
    train_f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    train_y = torch.tensor([0, 1, 1])
    test_f = torch.tensor([[1.0, 0.05], [0.1, 1.0]])
    assert knn_scores(train_f, train_y, test_f, 2, k=1).argmax(1).tolist() == [0, 1]
    # k=3 plain votes: class 1 has two neighbours; a sharp temperature lets the nearest one win
    assert knn_scores(train_f, train_y, test_f, 2, k=3).argmax(1).tolist() == [1, 1]
    assert knn_scores(train_f, train_y, test_f, 2, k=3, temperature=0.01).argmax(1).tolist() == [0, 1]


def test_labelled_subsets_random_and_balanced():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    random = labelled_subset(labels, 0.1, balanced=False, seed=0)
    assert len(random) == 10 and len(set(random.tolist())) == 10
    balanced = labelled_subset(labels, 0.1, balanced=True, seed=0)
    assert np.bincount(labels[balanced]).tolist() == [5, 3, 2, 1]  # round(0.1·n_c), at least one
    assert not np.array_equal(labelled_subset(labels, 0.1, False, 1), random)
    with pytest.raises(RecipeError, match="fraction"):
        labelled_subset(labels, 0.0, False, 0)


def test_linear_probe_and_few_shot_on_separable_features():
    features, labels = toy_features(n=120)
    train_f, train_y, test_f, test_y = features[:60], labels[:60], features[60:], labels[60:]
    scores = linear_probe(train_f, train_y, test_f, 3, epochs=15)
    assert (scores.argmax(1) == test_y).float().mean() > 0.9
    result = few_shot(train_f, train_y, test_f, test_y, classes=[1, 2], shots=3, episodes=5)
    assert result["top1"] > 0.9 and result["count"] == 40


def test_single_view_unwraps_views():
    blocks = [{"name": "skeleton.center"},
              {"name": "ssl.views", "args": {"views": [[{"name": "ssl.shear"}], [{"name": "ssl.axis_mask"}]]}}]
    assert single_view(blocks) == [{"name": "skeleton.center"}, {"name": "ssl.shear"}]


@pytest.fixture
def toy_run(tmp_path, toy_recipe):
    from fusion.recipe import from_dict
    from fusion.train.trainer import Trainer

    toy_recipe["train"]["epochs"] = 1
    Trainer(from_dict(toy_recipe), tmp_path / "run", progress=False).fit()
    return tmp_path / "run"


@pytest.mark.slow
def test_protocols_end_to_end(toy_run, capsys):
    trained = run_protocol(toy_run, "linear", ProtocolOptions(epochs=20))
    random = run_protocol(toy_run, "knn", ProtocolOptions(init="random"))
    assert 0 <= random["top1"] <= 1 and trained["feature_dim"] == 16
    assert json.loads(open(trained["output"]).read())["protocol"] == "linear"
    semi = run_protocol(toy_run, "semi", ProtocolOptions(mode="linear", fraction=0.25, balanced=True, seeds=[0, 1],
                                                         epochs=5))
    assert [t["labelled"] for t in semi["trials"]] == [12, 12]
    tuned = run_protocol(toy_run, "semi", ProtocolOptions(fraction=0.5, epochs=1, warmup_epochs=0))
    assert tuned["trials"][0]["count"] == 48
    assert main(["eval", str(toy_run), "--protocol", "fewshot", "--shots", "2", "--episodes", "3"]) == 0
    assert "fewshot (checkpoint) top-1" in capsys.readouterr().out


def test_feature_cache_is_reused_and_invalidated(toy_run):
    """A second frozen-feature protocol call reads the cached features and gives identical results."""
    first = run_protocol(toy_run, "knn", ProtocolOptions(init="random"))
    again = run_protocol(toy_run, "knn", ProtocolOptions(init="random"))
    assert (first["feature_cache_hit"], again["feature_cache_hit"]) == (False, True)
    assert again["feature_cache"] == first["feature_cache"] and again["top1"] == first["top1"]
    assert again["output"] != first["output"]  # fast repeated calls never overwrite each other's results
    linear = [run_protocol(toy_run, "linear", ProtocolOptions(epochs=3)) for _ in range(2)]
    assert [r["feature_cache_hit"] for r in linear] == [False, True]  # the trained weights have their own entry
    assert linear[0]["top1"] == linear[1]["top1"] and linear[0]["feature_cache"] != first["feature_cache"]
    cached = np.load(linear[0]["feature_cache"])
    assert cached["train_f"].shape == (48, 16) and cached["test_y"].dtype == np.int64
    # a rewritten checkpoint (other weights) misses the cache
    from safetensors.torch import load_file, save_file

    weights = Path(linear[0]["checkpoint"]) / "model.safetensors"
    save_file({k: v + 0.01 for k, v in load_file(str(weights)).items()}, str(weights))
    changed = run_protocol(toy_run, "linear", ProtocolOptions(epochs=3))
    assert not changed["feature_cache_hit"] and changed["feature_cache"] != linear[0]["feature_cache"]
    uncached = run_protocol(toy_run, "knn", ProtocolOptions(init="random", cache=False))
    assert uncached["feature_cache"] is None and uncached["top1"] == first["top1"]


def test_cli_no_feature_cache_neither_reads_nor_writes(toy_run, capsys):
    assert main(["eval", str(toy_run), "--protocol", "knn", "--init", "random", "--no-feature-cache"]) == 0
    assert not (toy_run / "feature-cache").exists()
    result = json.loads(sorted(toy_run.glob("protocol-knn-*.json"))[-1].read_text())
    assert result["feature_cache"] is None and result["feature_cache_hit"] is False
    assert result["options"]["cache"] is False
