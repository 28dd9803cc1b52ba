"""Runs are never damaged: refused re-training into a run, --overwrite, one writer per run directory,
resume checked before anything is written, atomic files, a full disk while saving, on_error=skip in evaluation."""

import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from fusion.cli import main
from fusion.errors import DataError, RecipeError, TrainingError
from fusion.recipe import from_dict
from fusion.train import checkpoint as ckpt
from fusion.train import rundir
from fusion.train.rundir import RunDirError
from fusion.train.trainer import Trainer

TESTS = Path(__file__).resolve().parents[1]


def train(recipe_dict, run, resume=False, overwrite=False, **train_overrides):
    recipe = json.loads(json.dumps(recipe_dict))
    recipe["train"].update(train_overrides)
    return Trainer(from_dict(recipe), run, resume=resume, overwrite=overwrite, progress=False).fit()


def snapshot(run: Path) -> dict:
    """Every file of a run (lock file aside) with its bytes."""
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"}


def env():
    return {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}


def fusion(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "fusion", *map(str, args)], env=env(), capture_output=True,
                          text=True, timeout=180, **kwargs)


def one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("fusion ")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.fixture
def finished(toy_recipe, tmp_path):
    toy_recipe["train"]["epochs"] = 2
    run = tmp_path / "run"
    train(toy_recipe, run)
    return run


# ------------------------------------------------------------------ defect 4: an existing run is never replaced

def test_training_again_into_a_finished_run_is_refused_and_changes_nothing(toy_recipe, finished):
    before = snapshot(finished)
    with pytest.raises(RunDirError, match=r"already holds a run; continue it with --resume.*--overwrite"):
        train(toy_recipe, finished)
    assert snapshot(finished) == before


def test_cli_refuses_a_finished_out_in_one_sentence(toy_recipe, finished, tmp_path, capsys):
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(toy_recipe))
    before = snapshot(finished)
    assert main(["train", str(recipe), "--out", str(finished), "train.epochs=1"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert snapshot(finished) == before


def test_overwrite_moves_the_old_run_aside(toy_recipe, finished):
    before = snapshot(finished)
    train(toy_recipe, finished, overwrite=True)
    (aside,) = finished.parent.glob("run.old-*")
    assert snapshot(aside) == before  # the old run intact, in full
    metrics = [json.loads(x) for x in (finished / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics if m["event"] == "epoch"] == [1, 2]  # nothing mixed in


def test_resume_and_overwrite_together_are_refused(toy_recipe, finished):
    with pytest.raises(RunDirError, match="contradict"):
        train(toy_recipe, finished, resume=True, overwrite=True)


def test_an_empty_existing_directory_is_used(toy_recipe, tmp_path):
    (tmp_path / "empty").mkdir()
    assert train(toy_recipe, tmp_path / "empty", epochs=1)["epochs"] == 1


def test_second_writer_gets_the_holders_pid(toy_recipe, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = rundir.RunLock(run)
    holder.acquire()
    try:
        with pytest.raises(RunDirError, match=rf"in use by another fusion process \(pid {os.getpid()}\)"):
            train(toy_recipe, run)
        with pytest.raises(RunDirError, match="in use"):
            train(toy_recipe, run, resume=True)
    finally:
        holder.release()


def test_a_stale_lock_of_a_dead_process_is_taken_over(toy_recipe, finished):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (finished / ".lock").write_text(f"{dead.pid}\n")  # left by a killed run: no flock is held any more
    summary = train(toy_recipe, finished, resume=True, epochs=3)
    assert summary["epochs"] == 3


def test_a_file_system_without_flock_trains_with_a_warning(toy_recipe, tmp_path, monkeypatch, capsys):
    import fcntl

    def unsupported(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    assert train(toy_recipe, tmp_path / "run", epochs=1)["epochs"] == 1
    assert "cannot lock the run directory (No locks available)" in capsys.readouterr().err


def test_two_trainings_racing_on_one_out(toy_recipe, tmp_path):
    toy_recipe["data"]["dataset"]["args"].update(size=64, delay=0.004)
    toy_recipe["train"].update(epochs=2, batch_size=8)
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(toy_recipe))
    cmd = [sys.executable, "-m", "fusion", "train", str(recipe), "--out", str(tmp_path / "run")]
    procs = [subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (loser_err,) = [err for code, _, err in results if code == 2]
    sentence = one_sentence(loser_err)
    assert re.search(r"in use by another fusion process \(pid \d+\)|already holds a run", sentence), sentence
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["test"]["count"] == 64
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics if m["event"] == "epoch"] == [1, 2]  # one writer only


@pytest.mark.slow  # four fusion processes; the lock itself is tested in-process above
def test_a_running_training_names_its_pid_to_a_second_one(toy_recipe, tmp_path):
    toy_recipe["data"]["dataset"]["args"].update(size=64, delay=0.02)
    toy_recipe["train"].update(epochs=20, batch_size=8)
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(toy_recipe))
    first = subprocess.Popen([sys.executable, "-m", "fusion", "train", str(recipe), "--out", str(tmp_path / "run")],
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 60
        while not (tmp_path / "run" / "recipe.yaml").exists():
            assert time.time() < end and first.poll() is None, first.stderr.read()
            time.sleep(0.05)
        for extra in ([], ["--resume"], ["--overwrite"]):
            second = fusion("train", recipe, "--out", tmp_path / "run", *extra)
            assert second.returncode == 2
            assert f"in use by another fusion process (pid {first.pid})" in one_sentence(second.stderr)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert not list(tmp_path.glob("run.old-*"))


# ------------------------------------------------------------------ --out paths

def test_out_that_is_a_file_or_inside_a_file(toy_recipe, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a directory"):
        train(toy_recipe, tmp_path / "file")
    with pytest.raises(RunDirError, match=r"lies inside .*file, which is a file"):
        train(toy_recipe, tmp_path / "file" / "sub" / "run")
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder(toy_recipe, tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        with pytest.raises(RunDirError, match="not writable"):
            train(toy_recipe, tmp_path / "ro" / "run")
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_out_that_cannot_be_created_is_one_sentence(toy_recipe, tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(RunDirError, match="cannot be created \\(Read-only file system\\)"):
        train(toy_recipe, tmp_path / "new")


# ------------------------------------------------------------------ defect 3: a failed --resume changes nothing

def _damage_weights(run):
    weights = run / "checkpoints" / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])


def _damage_state(run):
    (run / "checkpoints" / "last" / "trainer_state.json").write_text('{"epoch": 2, "glob')


def _wrong_shapes(run):
    other = run.parent / "other"
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["model"]["encoders"]["skeleton"]["args"]["dim"] = 8
    recipe.pop("source", None)
    train(recipe, other)
    for name in ("model.safetensors", "optimizer.bin"):
        (run / "checkpoints" / "last" / name).write_bytes((other / "checkpoints" / "last" / name).read_bytes())


@pytest.mark.parametrize("damage, message", [
    (_damage_weights, "could not be loaded safely"),
    (_damage_state, r"trainer_state.json is missing or damaged"),
    (_wrong_shapes, "could not be loaded safely"),
])
def test_failed_resume_leaves_the_run_as_it_was(toy_recipe, finished, damage, message, capsys):
    damage(finished)
    before = snapshot(finished)
    with pytest.raises(TrainingError, match=message):
        train(toy_recipe, finished, resume=True, epochs=3)
    assert snapshot(finished) == before
    assert main(["eval", str(finished), "--checkpoint", "best"]) == 0  # the run still evaluates
    assert "top-1" in capsys.readouterr().out


@pytest.mark.parametrize("override, key", [
    ({"model": {"encoders": {"skeleton": {"name": "toy_mlp", "args": {"dim": 32}}}}}, "model.encoders.skeleton.args.dim"),
    ({"data": {"dataset": {"name": "toy", "args": {"size": 40}}}}, "data.dataset.args.size"),
    ({"train": {"batch_size": 4}}, "train.batch_size"),
    ({"objective": {"name": "toy_counting"}}, "objective.name"),
])
def test_resume_with_an_incompatible_recipe_is_refused_before_writing(toy_recipe, finished, override, key):
    before = snapshot(finished)
    changed = from_dict(json.loads(json.dumps(toy_recipe)))
    for section, value in override.items():
        changed[section] = {**changed[section], **value} if section != "objective" else {"name": value["name"], "args": {}}
    with pytest.raises(RecipeError, match=rf"--resume: the recipe differs from .*recipe.yaml.*{key}"):
        Trainer(changed, finished, resume=True, progress=False).fit()
    assert snapshot(finished) == before


def test_resume_with_more_epochs_warns_and_continues(toy_recipe, finished, capsys):
    summary = train({**toy_recipe, "data": {**toy_recipe["data"], "num_workers": 0}}, finished, resume=True, epochs=3)
    assert summary["epochs"] == 3
    assert "warning: --resume with a changed recipe: train.epochs: 2 -> 3" in capsys.readouterr().err


def test_resume_drops_metrics_logged_after_the_checkpoint(toy_recipe, tmp_path):
    run = tmp_path / "run"
    train(toy_recipe, run, max_steps=9)  # 6 steps per epoch: the checkpoint is mid-epoch 2, at step 9
    with (run / "metrics.jsonl").open("a") as f:  # what a process killed after that checkpoint had logged
        f.write('{"event": "step", "epoch": 1, "step": 10, "loss": 1.0}\n{"event": "eval", "epoch": 2}\n{"event": "ep')
    train(toy_recipe, run, resume=True)
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["event"] == "step"]
    assert steps == sorted(set(steps)) and steps[-1] == 18
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2, 3]


def test_resume_of_a_folder_without_a_run_writes_nothing(toy_recipe, tmp_path):
    with pytest.raises(TrainingError, match="holds no run"):
        train(toy_recipe, tmp_path / "nothing", resume=True)
    assert not (tmp_path / "nothing").exists()


# ------------------------------------------------------------------ atomic files and a full disk

def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(TrainingError, match=r"could not write .*summary.json: the disk is full; the previous version"):
        rundir.atomic_write(target, "new")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one(toy_recipe, finished, monkeypatch):
    import accelerate.utils.other

    good = load_file(str(finished / "checkpoints" / "last" / "model.safetensors"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(accelerate.utils.other, "safe_save_file", full)  # what Accelerate's save_state calls
    with pytest.raises(TrainingError, match=r"could not save checkpoint '(last|best)' .*the disk is full; "
                                            r"the previous checkpoint .*checkpoints/(last|best) is intact"):
        train(toy_recipe, finished, resume=True, epochs=3)
    monkeypatch.undo()
    assert not list((finished / "checkpoints").glob(".tmp-*"))
    now = load_file(str(finished / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.equal(good[k], now[k]) for k in good)
    assert ckpt.read_state(ckpt.find_checkpoint(finished, "last"))["epoch"] == 2
    assert train(toy_recipe, finished, resume=True, epochs=3)["epochs"] == 3  # and the run goes on afterwards


def _limit_file_size(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow  # three fusion processes; test_disk_full_while_saving... covers it in-process
def test_file_size_limit_while_saving_is_one_sentence(toy_recipe, tmp_path):
    toy_recipe["model"]["encoders"]["skeleton"]["args"]["dim"] = 96  # model.safetensors ~ 45 KB
    toy_recipe["train"]["epochs"] = 1
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(toy_recipe))
    assert fusion("train", recipe, "--out", tmp_path / "run").returncode == 0
    before = (tmp_path / "run" / "checkpoints" / "last" / "model.safetensors").read_bytes()
    assert len(before) > 40_000
    limited = subprocess.run([sys.executable, "-m", "fusion", "train", str(recipe), "--out", str(tmp_path / "run"),
                              "--resume", "train.epochs=2"], env=env(), capture_output=True, text=True, timeout=180,
                             preexec_fn=_limit_file_size(30_000))
    assert limited.returncode == 2, limited.stderr
    assert "file-size limit" in one_sentence(limited.stderr) and "is intact" in limited.stderr
    assert (tmp_path / "run" / "checkpoints" / "last" / "model.safetensors").read_bytes() == before
    resumed = fusion("train", recipe, "--out", tmp_path / "run", "--resume", "train.epochs=2")
    assert resumed.returncode == 0, resumed.stderr


# ------------------------------------------------------------------ defect 2: on_error=skip in evaluation

@pytest.fixture
def flaky(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(TESTS / "data"))
    return {
        "plugins": ["flaky_data_plugin"],
        "data": {"dataset": {"name": "flaky", "args": {"size": 6, "bad": 2, "nan": None}}, "modalities": ["skeleton"],
                 "on_error": "skip"},
        "model": {"encoders": {"skeleton": {"name": "toy_mlp", "args": {"joints": 25}}}},
        "train": {"epochs": 2, "batch_size": 2},
        "eval": {"batch_size": 1},  # the test batch holding sample 2 holds nothing else
    }


def test_skip_in_evaluation_counts_and_writes_the_summary(flaky, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(TESTS))
    flaky["plugins"].append("toy_plugin")
    run = tmp_path / "run"
    summary = train(flaky, run)
    saved = json.loads((run / "summary.json").read_text())
    assert saved["test"]["count"] == 5 and saved["test"]["skipped"] == 1 == summary["test"]["skipped"]
    assert saved["skipped_per_epoch"] == [1, 1]
    assert main(["eval", str(run), "--checkpoint", "last"]) == 0
    (report,) = run.glob("eval-*.json")
    result = json.loads(report.read_text())
    assert result["count"] == 5 and result["skipped"] == 1


def test_skip_in_a_mixed_evaluation_batch(flaky, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    flaky["plugins"].append("toy_plugin")
    flaky["data"]["dataset"]["args"].update(size=6, bad=0)
    flaky["eval"]["batch_size"] = 4  # batches {0 broken, 1, 2, 3} and {4, 5}
    summary = train(flaky, tmp_path / "run")
    assert summary["test"]["count"] == 5 and summary["test"]["skipped"] == 1



def test_every_training_sample_broken_is_one_sentence_not_an_empty_epoch(flaky, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    flaky["plugins"].append("toy_plugin")
    flaky["data"]["dataset"]["args"].update(size=1, bad=0)
    flaky["model"]["num_classes"] = 3
    with pytest.raises(DataError, match=r"epoch 1: all 1 training samples were skipped as broken.*nothing was trained"):
        train(flaky, tmp_path / "run")


def test_every_evaluation_sample_broken_is_one_sentence(flaky, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(TESTS))
    flaky["plugins"].append("toy_plugin")
    run = tmp_path / "run"
    train(flaky, run)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["data"]["dataset"]["args"].update(size=1, bad=0)  # the test split's only sample is broken
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code = main(["eval", str(run), "--trust-plugins"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "nothing to evaluate: all 1 samples were skipped as broken (data.on_error: skip)" in err


@pytest.mark.slow  # two processes: one rank's evaluation batch is empty while the other's is not
def test_skip_in_evaluation_across_two_processes(flaky, tmp_path):
    flaky["plugins"].append("toy_plugin")
    flaky["train"]["batch_size"] = 2
    flaky["eval"]["batch_size"] = 2  # one sample per rank: the rank given sample 2 has nothing
    recipe = tmp_path / "flaky.yaml"
    recipe.write_text(yaml.safe_dump(flaky))
    done = subprocess.run([sys.executable, "-m", "fusion", "train", str(recipe), "--out", str(tmp_path / "run"),
                           "--processes", "2"], env={**env(), "PYTHONPATH": f"{TESTS}:{TESTS / 'data'}"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test"]["count"] == 5 and summary["test"]["skipped"] == 1
