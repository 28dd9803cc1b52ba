"""Training samples/s on one GPU (or per process under torchrun) for CTR-GCN, MAMP and X3D; run by ``gpu.sh``.

Modes: ``fp32``, ``bf16`` (autocast) and ``compile`` (the fast path under ``torch.compile``, bf16 autocast,
as ``train.compile: true`` with ``train.precision: bf16``). Under ``torchrun`` the models are wrapped in
DistributedDataParallel (NCCL when each process has its own GPU, gloo when they share one) and the
reported rate is the sum over processes. Synthetic inputs, SGD steps; nothing is downloaded.

    python benchmarks/gpu_throughput.py --models ctrgcn mamp x3d --modes fp32 bf16 compile --out gpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import nullcontext

import torch
from torch import nn


class MAMPStep(nn.Module):
    """MAMP pre-training step as one module: encoder + decoder, masked motion loss."""

    def __init__(self):
        super().__init__()
        from fusion_plugins.skeleton.transformer import skeleton_transformer
        from fusion_plugins.ssl.mamp import MAMP

        self.encoder = skeleton_transformer(frames=120)
        self.objective = MAMP(frames=120)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from fusion_plugins.ssl.mamp import masked_mse

        seq = self.encoder.fold_persons(x)
        mask = self.objective.masking(self.encoder.patchify(seq))
        pred = self.objective.reconstruct(self.encoder, seq, mask)
        return masked_mse(pred, self.objective.targets(self.encoder, seq), mask.mask)


class Classify(nn.Module):
    """Encoder + linear head + cross-entropy on random labels."""

    def __init__(self, encoder: nn.Module, classes: int = 60):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(encoder.out_dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.encoder(x).pooled)
        return nn.functional.cross_entropy(logits, torch.zeros(len(x), dtype=torch.long, device=x.device))


def build(name: str, batch: int) -> tuple[nn.Module, torch.Tensor]:
    if name == "ctrgcn":
        from fusion_plugins.skeleton.ctrgcn import ctrgcn

        return Classify(ctrgcn()), torch.randn(batch, 3, 64, 25, 2)
    if name == "mamp":
        return MAMPStep(), torch.randn(batch, 3, 120, 25, 2)
    if name == "x3d":
        from fusion_plugins.rgb.encoders.x3d import x3d_m

        return Classify(x3d_m()), torch.randn(max(batch // 4, 1), 3, 16, 224, 224)
    raise SystemExit(f"unknown model {name!r}; expected ctrgcn, mamp or x3d")


def run(name: str, mode: str, batch: int, steps: int, warmup: int, device: torch.device, world: int) -> dict:
    torch.manual_seed(0)
    model, x = build(name, batch)
    model, x = model.to(device), x.to(device)
    compile_seconds = None
    if mode == "compile":
        model.compile()
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" and
                                        torch.distributed.get_backend() == "nccl" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if mode in ("bf16", "compile") else nullcontext()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = model(x)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    torch.cuda.synchronize(device)
    if mode == "compile":
        compile_seconds = time.perf_counter() - start
    for _ in range(warmup):
        step()
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"model": name, "mode": mode, "processes": world, "batch_per_process": len(x),
            "samples_per_s": world * len(x) * steps / seconds, "step_ms": 1000 * seconds / steps,
            "compile_s": compile_seconds, "max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30,
            "device": torch.cuda.get_device_name(device), "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ctrgcn", "mamp", "x3d"])
    parser.add_argument("--modes", nargs="+", default=["fp32", "bf16", "compile"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default="gpu_results.jsonl")
    args = parser.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    if world > 1:
        backend = "nccl" if torch.cuda.device_count() >= world else "gloo"
        torch.distributed.init_process_group(backend)
    torch.backends.cudnn.benchmark = True
    for name in args.models:
        for mode in args.modes:
            result = run(name, mode, args.batch // world if world > 1 else args.batch, args.steps, args.warmup,
                         device, world)
            if rank == 0:
                print(json.dumps(result), flush=True)
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(result) + "\n")
            torch.cuda.empty_cache()
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
