"""Issue 15: `best` is selected on a validation split only, BatchNorm statistics are re-estimated before each
evaluation, every number says its split and checkpoint, and evaluation settings that would be ignored are errors."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from fusion.cli import main
from fusion.data.validation import hold_out, plan_validation
from fusion.data.wrapped import IndexedView
from fusion.errors import RecipeError
from fusion.recipe import from_dict
from fusion.train.accel import make_accelerator
from fusion.train.labels import describe_conditions, warn_one_class
from fusion.train.precise_bn import batches_of, update_bn_stats
from fusion.train.trainer import Trainer


def train(recipe_dict, run_dir, **train_overrides):
    recipe_dict = json.loads(json.dumps(recipe_dict))
    recipe_dict["train"].update(train_overrides)
    return Trainer(from_dict(recipe_dict), run_dir, progress=False).fit()


def history(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x for x in lines if x["event"] == "epoch"]


def test_best_epoch_never_depends_on_test_labels(toy_recipe, tmp_path):
    """Shuffling the test labels changes the test score, never which epoch is `best`."""
    runs = {}
    for seed in (None, 1, 2):
        recipe = json.loads(json.dumps(toy_recipe))
        recipe["data"]["dataset"]["args"]["shuffle_test_labels"] = seed
        runs[seed] = train(recipe, tmp_path / f"run-{seed}", epochs=4, batch_size=8)
    best = {seed: summary["best"]["epoch"] for seed, summary in runs.items()}
    assert len(set(best.values())) == 1 and best[None] is not None
    val = {seed: [h["val_top1"] for h in history(tmp_path / f"run-{seed}")] for seed in runs}
    assert val[None] == val[1] == val[2]
    assert runs[None]["test"]["top1"] != runs[1]["test"]["top1"]  # the shuffle did reach the test split
    assert all("top1" not in h for h in history(tmp_path / "run-None"))  # no per-epoch test accuracy at all


def test_train_and_eval_report_the_same_labelled_checkpoint(toy_recipe, tmp_path, capsys):
    summary = train(toy_recipe, tmp_path / "run", epochs=3)
    assert summary["test"]["checkpoint"] == f"best(val, epoch {summary['best']['epoch']})"
    assert summary["result"].startswith("test top-1") and "@best(val" in summary["result"]
    assert main(["eval", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"test top-1 {summary['test']['top1']:.4f}" in out and "@best(val" in out
    assert main(["eval", str(tmp_path / "run"), "eval.corruption={type: random, ratio: 0.5}"]) == 0
    assert "(corruption random 0.5)" in capsys.readouterr().out


def test_without_validation_the_last_epoch_is_reported(toy_recipe, tmp_path):
    toy_recipe["data"]["val_split"] = "none"
    summary = train(toy_recipe, tmp_path / "run", epochs=2)
    assert summary["test"]["checkpoint"] == "last (epoch 2)"
    assert not (tmp_path / "run" / "checkpoints" / "best").exists()


def test_hold_out_is_seeded_and_keeps_groups_whole():
    groups = np.repeat(np.arange(10), 5)  # 10 subjects, 5 samples each
    mask = hold_out(groups, 0.2, seed=0)
    assert np.array_equal(mask, hold_out(groups, 0.2, seed=0)) and not np.array_equal(mask, hold_out(groups, 0.2, 1))
    held = set(groups[mask])
    assert len(held) == 2 and not held & set(groups[~mask])
    assert hold_out(np.zeros(5), 0.5, 0).sum() == 0  # one group: nothing can be held out


class Grouped(torch.utils.data.Dataset):
    def __init__(self, subjects):
        self.subjects = np.asarray(subjects)

    def __len__(self):
        return len(self.subjects)

    def __getitem__(self, i):
        return {"label": 0}

    def validation_groups(self):
        return self.subjects, "subjects"


def test_plan_validation_holds_out_whole_subjects_through_wrappers():
    base = Grouped(np.repeat([1, 2, 4, 5, 8], 3))
    wrapped = IndexedView(base, np.tile(np.arange(len(base)), 2))  # a repeat wrapper: every sample twice
    data = {"val_split": "auto", "val_fraction": 0.2, "val_seed": 0, "train_split": "train"}
    plan = plan_validation(data, wrapped, lambda split: IndexedView(base, np.tile(np.arange(len(base)), 2)))
    train_subjects = set(base.subjects[wrapped.indices[plan.train.indices]])
    val_subjects = set(base.subjects[plan.val.base.indices[plan.val.indices]])
    assert len(val_subjects) == 1 and not val_subjects & train_subjects and "1 of 5 training subjects" in plan.rule
    with pytest.raises(RecipeError, match="data.val_fraction"):
        plan_validation({**data, "val_fraction": 1.5}, wrapped, lambda split: wrapped)


def test_precise_bn_sets_the_batch_statistics_and_leaves_the_random_stream():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))

    class Wrapped(nn.Module):  # the trainer calls model(batch)
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, batch):
            return self.net(batch["x"])

    batches = [{"x": torch.randn(8, 4) * 3 + 5, "label": torch.zeros(8)} for _ in range(4)]
    with torch.no_grad():
        expected = torch.stack([model[0](b["x"]).mean(0) for b in batches]).mean(0)
    state = torch.get_rng_state()
    used = update_bn_stats(make_accelerator("no"), Wrapped(), batches, batches=3)
    assert used == 3 and torch.equal(state, torch.get_rng_state()) and model[1].momentum == 0.1
    with torch.no_grad():
        three = torch.stack([model[0](b["x"]).mean(0) for b in batches[:3]]).mean(0)
    assert torch.allclose(model[1].running_mean, three, atol=1e-5) and not torch.allclose(three, expected * 0)
    assert batches_of(False) == 0 and batches_of({"batches": 7}) == 7
    with pytest.raises(RecipeError, match="eval.precise_bn.batch"):
        batches_of({"batch": 7})


def test_one_class_warning(capsys):
    assert warn_one_class("test", np.tile([0.1, 0.9, 0.0], (5, 1)), ["a", "b", "c"]) is not None
    assert "every test prediction (5 samples) is class 1 (b)" in capsys.readouterr().err
    assert warn_one_class("test", np.eye(3), ["a", "b", "c"]) is None


@pytest.mark.parametrize(("key", "value", "match"), [
    ("drop", ["skeletn"], r"eval.drop: 'skeletn' is not a modality of this run; its modalities: skeleton"),
    ("drop", ["skeleton"], r"eval.drop: .* removes every modality"),
    ("corruption", {"type": "random", "ratio": 0.5, "modalities": ["depth"]},
     r"eval.corruption.modalities: 'depth' is not a modality of this run"),
])
def test_ignored_evaluation_settings_are_errors(toy_recipe, tmp_path, key, value, match):
    toy_recipe["eval"][key] = value
    with pytest.raises(RecipeError, match=match):
        train(toy_recipe, tmp_path / "run", epochs=1)


def test_eval_drop_typo_is_an_error_in_fusion_eval(toy_recipe, tmp_path, capsys):
    train(toy_recipe, tmp_path / "run", epochs=1)
    assert main(["eval", str(tmp_path / "run"), "eval.drop=[depht]"]) != 0
    assert "eval.drop: 'depht' is not a modality" in capsys.readouterr().err


def test_warmup_as_long_as_the_run_is_an_error(toy_recipe, tmp_path):
    toy_recipe["train"]["schedule"] = {"name": "cosine", "warmup_epochs": 3}
    with pytest.raises(RecipeError, match="train.schedule.warmup_epochs: 3 is not shorter than train.epochs=3"):
        train(toy_recipe, tmp_path / "run", epochs=3)


def test_conditions_are_described():
    assert describe_conditions({"corruption": {"type": "random", "ratio": 0.5}, "drop": [], "clips": 1}) == \
        "corruption random 0.5"
    assert describe_conditions({"corruption": None, "drop": ["depth"], "clips": 1}) == "drop depth"


def test_readers_name_their_validation_groups():
    """NTU / PySKL pickles hold out performers, PKU-MMD videos, NW-UCLA subjects; unknown names: samples."""
    from fusion_plugins.formats.splits import validation_groups

    groups, what = validation_groups(["S001C001P001R001A001", "S002C002P004R001A007"])
    assert what == "subjects" and groups.tolist() == [1, 4]
    groups, what = validation_groups(["0002-L_003", "0002-L_004", "0003-M_001"])
    assert what == "videos" and groups.tolist() == ["0002-L", "0002-L", "0003-M"]
    assert validation_groups(["a01_s03_e01_v01"])[0].tolist() == [3]
    assert validation_groups(["clip-1"]) is None


def test_pretext_only_runs_report_pretext_loss_and_knn_probe(toy_recipe, tmp_path, capsys):
    """SSL pre-training: no untrained-head accuracy anywhere; a kNN probe on validation selects `best`."""
    toy_recipe["objective"] = {"name": "toy_pretext"}
    summary = train(toy_recipe, tmp_path / "run", epochs=2)
    epochs = history(tmp_path / "run")
    assert all("val_knn_top1" in h and "val_top1" not in h for h in epochs)
    assert summary["best"]["selected_on"] == "val kNN probe" and summary["pretext"]["train_loss"] is not None
    assert summary["test"]["metric"] == "20-NN probe of the encoder" and 0.5 < summary["test"]["top1"] <= 1.0
    assert summary["result"].startswith("pretext loss ") and "test kNN top-1" in summary["result"]


def test_eval_split_val_measures_the_runs_own_validation_samples(toy_recipe, tmp_path):
    from fusion.train.eval_run import evaluate_run

    toy_recipe["data"]["dataset"]["args"]["test_size"] = 24  # val and test sizes differ from train's 48
    summary = train(toy_recipe, tmp_path / "run", epochs=2)
    result = evaluate_run(tmp_path / "run", overrides=["eval.split=val"])
    assert result["split"] == "val" and result["top1"] == summary["val"]["top1"] and result["count"] == 24
    assert result["result"].startswith("val top-1")


def test_fusion_eval_refuses_a_pretext_only_run(toy_recipe, tmp_path, capsys):
    toy_recipe["objective"] = {"name": "toy_pretext"}
    train(toy_recipe, tmp_path / "run", epochs=1)
    assert main(["eval", str(tmp_path / "run")]) != 0
    assert "--protocol knn" in capsys.readouterr().err


def test_repeated_samples_are_held_out_with_their_copies():
    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return {"label": 0}

    base = Plain()
    repeated = IndexedView(base, np.tile(np.arange(20), 3))
    plan = plan_validation({"val_split": "auto", "val_fraction": 0.2, "val_seed": 0, "train_split": "train"},
                           repeated, lambda split: repeated)
    held = set(repeated.indices[plan.val.indices])
    kept = set(repeated.indices[plan.train.indices])
    assert len(held) == 4 and not held & kept and len(plan.val) == 12  # 4 samples, each with its 3 copies


def test_precise_bn_leaves_frozen_modules_statistics_alone(toy_recipe):
    """A frozen (pre-trained) encoder keeps its BatchNorm statistics: only layers that train are re-estimated."""
    from fusion.train.build import build_all, build_loader
    from fusion.train.init import apply_freeze

    toy_recipe["model"]["encoders"] = {"skeleton": {"name": "toy_bn"}}
    built = build_all(from_dict(toy_recipe))
    model = built.module.model
    apply_freeze(model, ["encoders.skeleton"])
    norm = model.encoders["skeleton"].norm
    before = norm.running_mean.clone()
    loader = build_loader(from_dict(toy_recipe), built.train_set, built.collator, True, 8)
    assert update_bn_stats(make_accelerator("no"), model, loader, 4) == 0  # nothing left to re-estimate
    assert torch.equal(norm.running_mean, before)
    model.frozen_modules = []
    assert update_bn_stats(make_accelerator("no"), model, loader, 4) == 4
    assert not torch.equal(norm.running_mean, before)
