"""How many CPU threads one training process uses, and why.

PyTorch's default (one thread per core the machine has) is wrong twice on a small shared CPU
machine: N local processes each take every core, and OpenMP threads that spin-wait on cores
another program is using make a step several times slower than one thread (the quickstart took
79 s with the default and 12 s with ``OMP_NUM_THREADS=1`` under load). The policy:

1. ``train.threads`` / ``--threads`` when given;
2. else ``OMP_NUM_THREADS`` when set (``torchrun`` and ``accelerate launch`` set it);
3. else the cores this process may use (``sched_getaffinity``, a cgroup CPU quota) divided by the
   local processes, and no more than the cores that are idle right now (a short ``/proc/stat``
   sample), at least 1.

Data-loader workers use one thread each (:func:`worker_init`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fusion.errors import RecipeError


@dataclass(frozen=True)
class ThreadChoice:
    """The threads chosen and the numbers behind the choice (printed in the banner, kept in environment.json)."""

    threads: int
    source: str  # "train.threads", "OMP_NUM_THREADS" or "policy"
    cores: int  # cores this process may use (affinity and cgroup quota)
    local_processes: int
    idle_cores: float | None  # measured at start (policy only)

    def describe(self) -> str:
        if self.source != "policy":
            return f"{self.threads} ({self.source})"
        idle = f", {self.idle_cores:.1f} idle" if self.idle_cores is not None else ""
        return f"{self.threads} ({self.cores} cores / {self.local_processes} process(es){idle})"

    def as_dict(self) -> dict:
        return asdict(self)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores)


def local_processes() -> int:
    """Processes of this job on this machine (torchrun / accelerate set LOCAL_WORLD_SIZE)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def idle_cores(seconds: float = 0.2) -> float | None:
    """Cores idle over a short sample of ``/proc/stat`` (None where there is no /proc)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(seconds)
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1]) * (os.cpu_count() or 1)


def choose_threads(setting: int | None = None) -> ThreadChoice:
    """The thread count for this process (see the module docstring for the rule)."""
    cores, processes = available_cores(), local_processes()
    if setting is not None:
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            raise RecipeError(f"train.threads: expected a positive integer or null (automatic), got {setting!r}")
        return ThreadChoice(setting, "train.threads", cores, processes, None)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise RecipeError(f"OMP_NUM_THREADS={env!r} is not an integer; unset it or give a positive count") from None
        if value >= 1:
            return ThreadChoice(value, "OMP_NUM_THREADS", cores, processes, None)
    share = max(1, cores // processes)
    idle = idle_cores()
    threads = share if idle is None else max(1, min(share, math.floor(idle / processes + 0.5)))
    return ThreadChoice(threads, "policy", cores, processes, idle)


def apply_threads(setting: int | None = None) -> ThreadChoice:
    """Choose and set this process's intra-op threads."""
    choice = choose_threads(setting)
    torch.set_num_threads(choice.threads)
    return choice


def worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of every data loader: one thread per worker (workers are the parallelism)."""
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # for libraries loaded later in the worker (OpenCV, BLAS)
