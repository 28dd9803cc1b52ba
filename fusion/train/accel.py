"""Create the Accelerator; refuse silently-independent multi-process runs."""

from __future__ import annotations

import os
import warnings

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, DistributedType

from fusion.errors import TrainingError


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def make_accelerator(precision: str = "no", accumulate: int = 1, find_unused_parameters: bool = False) -> Accelerator:
    """An Accelerator for this launch: CPU (gloo DDP under torchrun) when no GPU is present.

    Without ``cpu=True`` a GPU-less torchrun gives every rank ``DistributedType.NO``: N unsynchronised
    trainings with no error. We pass ``cpu=True`` there and check the resulting world size.
    """
    cpu = not torch.cuda.is_available()
    if cpu and precision == "fp16":
        warnings.warn("precision fp16 is a no-op on CPU (Accelerate applies no autocast there); using 'no'. "
                      "Use bf16 for mixed precision on CPU.", stacklevel=2)
        precision = "no"
    if cpu and world_size_from_env() > 1 and os.environ.get("MASTER_ADDR", "127.0.0.1") in ("127.0.0.1", "localhost"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    AcceleratorState._reset_state()  # a new run in the same process may change precision/accumulation
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=precision,
        gradient_accumulation_steps=accumulate,
        dataloader_config=DataLoaderConfiguration(split_batches=True),  # batch_size is the global batch
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
    )
    expected = world_size_from_env()
    if accelerator.num_processes != expected or (expected > 1 and accelerator.distributed_type == DistributedType.NO):
        raise TrainingError(
            f"launched with WORLD_SIZE={expected} but Accelerate formed {accelerator.num_processes} process(es) "
            f"({accelerator.distributed_type}); refusing to run independent unsynchronised trainings"
        )
    return accelerator
