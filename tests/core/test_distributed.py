"""Two CPU processes under torchrun (gloo DDP): synchronised weights, every test sample counted once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from fusion.recipe import from_dict
from fusion.train.trainer import Trainer

HERE = Path(__file__).parent


def torchrun(recipe: dict, run_dir: Path, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           str(HERE / "ddp_train.py"), json.dumps(recipe), str(run_dir)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def test_two_process_training_is_synchronised_and_counts_each_sample_once(toy_recipe, tmp_path):
    toy_recipe["data"]["dataset"]["args"]["test_size"] = 45  # odd: the last eval batch is uneven across ranks
    toy_recipe["train"].update(epochs=2, batch_size=8)
    toy_recipe["eval"]["batch_size"] = 8
    result = torchrun(toy_recipe, tmp_path / "ddp")
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["type"] == "DistributedType.MULTI_CPU" for r in ranks)
    assert ranks[0]["digest"] == ranks[1]["digest"]  # gradients were averaged on every step
    for r in ranks:
        assert r["summary"]["test"]["count"] == 45
        assert r["summary"]["test"]["unique_indices"] == 45

    # The same recipe in one process (global batch 8 either way, no batch norm) ends at the same weights.
    single = Trainer(from_dict(json.loads(json.dumps(toy_recipe))), tmp_path / "single", progress=False).fit()
    assert abs(single["test"]["top1"] - ranks[0]["summary"]["test"]["top1"]) < 1e-6
    a = load_file(str(tmp_path / "ddp" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "checkpoints" / "last" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_precise_bn_statistics_are_averaged_over_processes(toy_recipe, tmp_path):
    """Each rank re-estimates BatchNorm statistics on its share of the batches; the averages are shared, so
    every rank evaluates (and rank 0 saves) the same statistics."""
    toy_recipe["model"]["encoders"] = {"skeleton": {"name": "toy_bn"}}
    toy_recipe["train"].update(epochs=1, batch_size=8)
    result = torchrun(toy_recipe, tmp_path / "ddp")
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["bn_digests"] and ranks[0]["bn_digests"] == ranks[1]["bn_digests"]
    assert ranks[0]["buffers_digest"] == ranks[1]["buffers_digest"]
