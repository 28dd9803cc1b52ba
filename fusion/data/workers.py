"""Name the sample a data-loader worker was loading when it died.

PyTorch only says ``DataLoader worker (pid 1234) exited unexpectedly``. Each worker writes
(pid, index) into a small shared-memory table before loading a sample and clears the index
after, so the error can name the sample (and its id) that killed the worker: an out-of-memory
kill, a segfault in a decoder, an ``os._exit`` in third-party code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

import torch
from torch.utils.data import get_worker_info

from fusion.errors import DataError, FusionError

MAX_WORKERS = 64
_PID = re.compile(r"pid\(?s?\)?\s*([\d, ]+)")


class WorkerTracker:
    """A shared (MAX_WORKERS, 2) table of (pid, index being loaded or -1)."""

    def __init__(self):
        self.table = torch.full((MAX_WORKERS, 2), -1, dtype=torch.long).share_memory_()

    def start(self, index: int) -> None:
        info = get_worker_info()
        if info is not None:
            self.table[info.id % MAX_WORKERS, 0] = os.getpid()
            self.table[info.id % MAX_WORKERS, 1] = int(index)

    def finish(self) -> None:
        info = get_worker_info()
        if info is not None:
            self.table[info.id % MAX_WORKERS, 1] = -1

    def in_progress(self, pids: set[int] | None = None) -> list[int]:
        rows = self.table.tolist()
        return [index for pid, index in rows if index >= 0 and (not pids or pid in pids)]


def describe_death(exc: BaseException, dataset) -> str | None:
    """A sentence naming the samples in flight in the dead worker, or None if ``exc`` is not a worker death."""
    text = str(exc)
    if "DataLoader worker" not in text or "exited unexpectedly" not in text and "killed by signal" not in text:
        return None
    tracker = getattr(dataset, "tracker", None)
    match = _PID.search(text)
    pids = {int(p) for p in match.group(1).replace(" ", "").split(",") if p} if match else None
    indices = tracker.in_progress(pids) if tracker is not None else []
    if not indices:
        return f"a data-loader worker died ({text.strip()}); no sample was being loaded at that moment"
    names = ", ".join(f"{i} (id {dataset.sample_id(i)})" for i in indices)
    return (
        f"a data-loader worker died while loading sample {names}: {text.strip()}. "
        "Check that file (fusion data check RECIPE), or run with data.num_workers=0 to see the error in-process"
    )


def worker_message(exc: FusionError) -> str:
    """The error's own sentence: PyTorch re-raises a worker's exception with the worker's traceback as its
    message ("Caught DataError in DataLoader worker process 0. Original Traceback ..."), which the user
    should not have to read through."""
    text = str(exc)
    if not text.startswith("Caught ") or "Original Traceback" not in text:
        return text
    marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    return text[text.rindex(marker) + len(marker):].strip() if marker in text else text


def guard_workers(loader: Iterable, dataset) -> Iterator:
    """Iterate ``loader``; a worker death becomes a DataError naming the sample, a worker's FusionError
    keeps its own sentence."""
    try:
        yield from loader
    except FusionError as exc:
        message = worker_message(exc)
        if message == str(exc):
            raise
        raise type(exc)(message) from None
    except RuntimeError as exc:
        message = describe_death(exc, dataset)
        if message is None:
            raise
        raise DataError(message) from exc
