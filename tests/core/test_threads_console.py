"""Thread policy (train.threads, --threads, OMP_NUM_THREADS, cgroup quota), the start banner, progress bars
and the experiment trackers (TensorBoard without duplicated scalars, W&B offline, MLflow file store)."""

import importlib.util
import json

import pytest
import torch

from fusion.cli import main
from fusion.errors import RecipeError
from fusion.recipe import from_dict
from fusion.train import console, threads
from fusion.train.trainer import Trainer


def test_thread_policy_order(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.2: 8.0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads.choose_threads().threads == 8  # an idle machine: every core
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.choose_threads().threads == 2  # cores / local processes
    monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.2: 2.2)
    busy = threads.choose_threads()
    assert busy.threads == 1 and busy.source == "policy" and "4 process(es), 2.2 idle" in busy.describe()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads().as_dict() == {"threads": 3, "source": "OMP_NUM_THREADS", "cores": 8,
                                                  "local_processes": 4, "idle_cores": None}
    assert threads.choose_threads(5).source == "train.threads"  # the recipe wins over the environment
    with pytest.raises(RecipeError, match="train.threads: expected a positive integer or null"):
        threads.choose_threads(0)
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    with pytest.raises(RecipeError, match="OMP_NUM_THREADS='many' is not an integer"):
        threads.choose_threads()


def test_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert threads.cgroup_cpu_limit(v1) == 2.0


def test_worker_init_sets_one_thread():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        threads.worker_init(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_banner_bars_and_environment(toy_recipe, tmp_path, capsys, monkeypatch):
    """The banner names run dir, samples, parameters, steps, device and threads; the training bar shows loss and
    lr; the evaluation bar appears; environment.json records the thread choice; --threads sets train.threads."""
    monkeypatch.setenv("FUSION_PROGRESS", "1")  # bars although stderr is captured (not a terminal)
    monkeypatch.setattr(console, "MININTERVAL", 0)  # draw every update: the toy run is faster than a redraw
    recipe = toy_recipe | {"train": {**toy_recipe["train"], "epochs": 1}}
    (tmp_path / "toy.yaml").write_text(json.dumps(recipe))
    assert main(["train", str(tmp_path / "toy.yaml"), "--out", str(tmp_path / "run"), "--threads", "1"]) == 0
    out, err = capsys.readouterr()
    banner = out.split("epoch=1")[0]
    for expected in (f"run         {tmp_path / 'run'}", "samples     train 48", "test 48", "parameters  ",
                     "steps       6 per epoch x 1 epochs", "device      cpu, 1 process(es)",
                     "threads     1 (train.threads) per process"):
        assert expected in banner, (expected, banner)
    assert "epoch 1/1" in err and "loss=" in err and "lr=" in err  # training bar with loss and lr
    assert "eval: 100%" in err
    env = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert env["threads"]["threads"] == 1 and env["threads"]["source"] == "train.threads"
    assert torch.get_num_threads() == 1


def test_no_bars_when_not_a_terminal(toy_recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FUSION_PROGRESS", raising=False)
    recipe = toy_recipe | {"train": {**toy_recipe["train"], "epochs": 1, "threads": 1}}
    Trainer(from_dict(recipe), tmp_path / "run").fit()
    err = capsys.readouterr().err
    assert "it/s" not in err and "epoch 1/1" not in err


def _scalar_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for events in (run_dir / "tb").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            tags.setdefault(tag, []).extend(e.step for e in acc.Scalars(tag))
    return tags


def test_tensorboard_scalars_once_and_test_loss(toy_recipe, tmp_path):
    recipe = toy_recipe | {"train": {**toy_recipe["train"], "epochs": 2, "threads": 1}}
    Trainer(from_dict(recipe), tmp_path / "run", progress=False).fit()
    tags = _scalar_tags(tmp_path / "run")
    assert {"step/loss", "step/lr", "train/loss", "val/loss", "val/top1", "test/loss", "test/top1"} <= set(tags)
    for tag, steps in tags.items():
        assert len(steps) == len(set(steps)), f"{tag} written twice at one step"
    assert not any(t.startswith("eval/") or t in ("epoch/top1", "epoch/val_top1") for t in tags)  # no second copy
    assert len(tags["val/loss"]) == 2 and len(tags["test/loss"]) == 1  # per epoch; once at the end
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert len(epochs) == 2 and all(r["val_loss"] > 0 for r in epochs)  # JSONL kept, losses logged
    assert [r["test_loss"] > 0 for r in records if r["event"] == "test"] == [True]


def test_log_with_errors(toy_recipe, tmp_path):
    recipe = toy_recipe | {"train": {**toy_recipe["train"], "epochs": 1, "log_with": ["tensorbored"]}}
    with pytest.raises(RecipeError, match="train.log_with: 'tensorbored' is not a tracker; choose from tensorboard"):
        Trainer(from_dict(recipe), tmp_path / "run", progress=False).fit()


@pytest.mark.slow  # W&B's start-up takes ~10 s
@pytest.mark.skipif(importlib.util.find_spec("wandb") is None or importlib.util.find_spec("mlflow") is None,
                    reason="wandb and mlflow are optional trackers")
def test_wandb_offline_and_mlflow_file_store(toy_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    recipe = toy_recipe | {"train": {**toy_recipe["train"], "epochs": 2, "threads": 1,
                                     "log_with": ["wandb", "mlflow"]}}
    run = tmp_path / "run"
    Trainer(from_dict(recipe), run, progress=False).fit()
    assert not (run / "tb").exists()
    offline = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert offline and offline[0].stat().st_size > 0
    histories = list((run / "mlruns").glob("*/*/metrics/val/loss"))
    assert len(histories) == 1 and len(histories[0].read_text().splitlines()) == 2  # two epochs, logged once each


def test_data_generation_bars(tmp_path, capsys, monkeypatch):
    from fusion_plugins.synthact.config import SynthActConfig
    from fusion_plugins.synthact.writers import write_synthact

    monkeypatch.setenv("FUSION_PROGRESS", "1")
    monkeypatch.setattr(console, "MININTERVAL", 0)
    cfg = SynthActConfig(subjects=2, classes=2, frames=8, size=16, repetitions=1)
    write_synthact(tmp_path / "files", cfg, ("skeleton", "rgb"), cache_dir=tmp_path / "cache")
    err = capsys.readouterr().err
    assert "rendering rgb" in err and "writing skeleton" in err and "writing rgb" in err
    assert f"{len(list((tmp_path / 'files').rglob('*_rgb.mp4')))}/" in err  # the bar counted every video
