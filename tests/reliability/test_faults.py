"""Faults injected into real training processes: SIGKILL, SIGTERM, crafted checkpoints, a failing rank."""

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from fusion.errors import TrainingError
from fusion.recipe import from_dict
from fusion.train import checkpoint as ckpt
from fusion.train.trainer import Trainer

TESTS = Path(__file__).resolve().parents[1]


def write_recipe(tmp_path, toy_recipe, **train):
    toy_recipe["train"].update(train)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_recipe))
    return path


def fusion_cmd(*args):
    return [sys.executable, "-m", "fusion", *args]


def env():
    return {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}


def last_state(run: Path) -> dict | None:
    found = ckpt.find_checkpoint(run, "last")
    return ckpt.read_state(found) if found else None


def wait_for_step(run: Path, step: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        state = last_state(run)
        if state and state["global_step"] >= step:
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at step {step} within {timeout}s")


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "checkpoints/last/model.safetensors")), load_file(str(b / "checkpoints/last/model.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture
def slow_toy(toy_recipe):
    toy_recipe["data"]["dataset"]["args"].update(size=64, delay=0.004)
    return toy_recipe


def test_sigkill_at_random_step_then_resume_is_identical(tmp_path, slow_toy):
    recipe = write_recipe(tmp_path, slow_toy, epochs=3, batch_size=8, checkpoint_every_steps=1)
    reference = subprocess.run(fusion_cmd("train", str(recipe), "--out", str(tmp_path / "ref")), env=env(),
                               capture_output=True, text=True, timeout=120)
    assert reference.returncode == 0, reference.stderr
    kill_step = random.Random().randint(3, 20)  # 8 steps per epoch: anywhere in epochs 1-3, mid-epoch included
    proc = subprocess.Popen(fusion_cmd("train", str(recipe), "--out", str(tmp_path / "run")), env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(tmp_path / "run", kill_step, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert last_state(tmp_path / "run")["global_step"] < 24
    resumed = subprocess.run(fusion_cmd("train", str(recipe), "--out", str(tmp_path / "run"), "--resume"), env=env(),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    ref_summary = json.loads((tmp_path / "ref/summary.json").read_text())
    run_summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert run_summary["test"] == ref_summary["test"], f"killed at step {kill_step}"
    assert same_weights(tmp_path / "ref", tmp_path / "run"), f"killed at step {kill_step}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_checkpoint_and_says_how_to_resume(tmp_path, slow_toy, sig):
    recipe = write_recipe(tmp_path, slow_toy, epochs=50, batch_size=8)
    proc = subprocess.Popen(fusion_cmd("train", str(recipe), "--out", str(tmp_path / "run")), env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(tmp_path / "run", 8, proc)  # the end-of-epoch-1 checkpoint exists
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"stopped by {sig.name}" in err and "--resume" in err and str(tmp_path / "run") in err
    state = last_state(tmp_path / "run")
    assert state["global_step"] > 8 or state["batch_in_epoch"] == 0
    assert state["epoch"] < 50


def test_interrupted_save_is_never_picked_up(tmp_path, toy_recipe):
    run = tmp_path / "run"
    Trainer(from_dict(toy_recipe), run, progress=False).fit()
    last = run / "checkpoints" / "last"
    # a kill after save_state but before the marker: the temporary folder is ignored
    (run / "checkpoints" / ".tmp-last").mkdir()
    (run / "checkpoints" / ".tmp-last" / "model.safetensors").write_bytes(b"half")
    assert ckpt.find_checkpoint(run, "last") == last
    # a kill between the two renames: the previous complete checkpoint is used
    last.rename(run / "checkpoints" / ".old-last")
    assert ckpt.find_checkpoint(run, "last") == run / "checkpoints" / ".old-last"
    # a folder without the marker is not a checkpoint
    (run / "checkpoints" / ".old-last" / ckpt.MARKER).unlink()
    assert ckpt.find_checkpoint(run, "last") is None


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_checkpoint_pickle_is_refused(tmp_path, toy_recipe):
    run = tmp_path / "run"
    Trainer(from_dict(toy_recipe), run, progress=False).fit()
    marker = tmp_path / "pwned"
    rng_file = run / "checkpoints" / "last" / "random_states_0.pkl"
    with rng_file.open("wb") as f:
        pickle.dump(RunsCode(marker), f)
    with pytest.raises(TrainingError, match="could not be loaded safely"):
        Trainer(from_dict(toy_recipe), run, resume=True, progress=False).fit()
    assert not marker.exists()


def test_failing_rank_stops_the_whole_job_with_its_error(tmp_path, toy_recipe):
    toy_recipe["data"]["dataset"]["args"]["fail_on_rank"] = 1
    recipe = write_recipe(tmp_path, toy_recipe, epochs=2, batch_size=8)
    started = time.time()
    result = subprocess.run(fusion_cmd("train", str(recipe), "--out", str(tmp_path / "run"), "--processes", "2"),
                            env=env(), capture_output=True, text=True, timeout=180)
    assert result.returncode != 0
    assert "injected failure on rank 1" in result.stdout + result.stderr
    assert time.time() - started < 120
