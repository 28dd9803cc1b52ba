"""Run directories are never damaged: checked ``--out`` paths, one writer at a time, atomic files.

* :func:`claim` checks ``--out`` (not a file, not inside a file, writable), refuses to train into an
  existing run without ``--resume`` (``--overwrite`` moves the old run aside to ``OUT.old-TIME``) and
  holds an exclusive lock (``OUT/.lock``, ``fcntl.flock``: released by the kernel when the holder dies,
  so a stale lock of a dead process is simply taken over) for as long as the run writes.
* :func:`atomic_write` writes a file as temp file + fsync + ``os.replace``: a reader sees the old or
  the new file, never half of one; a full disk leaves the old file and raises one sentence.
* :func:`check_resume` compares a resumed recipe with the run's ``recipe.yaml`` before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fusion.errors import FusionError, RecipeError, TrainingError, first_line
from fusion.recipe_ranges import lookup

LOCK_FILE = ".lock"
#: What makes a folder a run: a recipe was written, a checkpoint saved or a summary written.
RUN_FILES = ("recipe.yaml", "checkpoints", "summary.json")


class RunDirError(FusionError):
    """``--out`` cannot hold a run: it is a file, inside a file, read-only, in use or already a run."""


def is_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


def check_out_path(run_dir: Path) -> None:
    """One sentence if ``run_dir`` is a file, lies inside a file, or cannot be created or written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--out {run_dir} is a file, not a directory; choose a directory for the run")
    parent = run_dir
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"--out {run_dir} lies inside {parent}, which is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"--out {run_dir}: {parent} is not writable (permission denied)")


def _move_aside(run_dir: Path) -> Path:
    aside = run_dir.with_name(f"{run_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        aside, n = run_dir.with_name(f"{run_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
    run_dir.rename(aside)
    return aside


class RunLock:
    """An exclusive ``flock`` on ``RUN/.lock`` holding the writer's pid (for the message of a second writer)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"--out {self.path.parent}: cannot create its lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(f"run directory {self.path.parent} is in use by another fusion process (pid {holder}); "
                              "wait for it to finish or choose another --out") from None
        except OSError as exc:  # a file system without flock (some network mounts): train, but say so
            print(f"warning: {self.path.parent}: cannot lock the run directory ({exc.strerror}); "
                  "make sure no other process trains into it", file=sys.stderr)
        os.pwrite(fd, f"{os.getpid():<20}\n".encode(), 0)  # fixed width: a reader never sees half of two pids
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock
            self.fd = None


@contextlib.contextmanager
def claim(run_dir: Path, resume: bool = False, overwrite: bool = False, main: bool = True) -> Iterator[Path | None]:
    """Check and lock ``run_dir`` for a training run; yields the folder the old run was moved to (or None).

    Other ranks of a data-parallel job (``main=False``) only check the path: rank 0 holds the lock.
    """
    run_dir = Path(run_dir)
    check_out_path(run_dir)
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite contradict each other: choose one")
    if not main:
        yield None
        return
    lock = RunLock(run_dir)
    aside = None
    if not resume and not run_dir.is_dir():
        _make(run_dir)
    if run_dir.is_dir():
        lock.acquire()  # a running writer is reported before anything else is decided
    try:
        if resume and not is_run(run_dir):
            raise TrainingError(f"--resume: {run_dir} holds no run (no complete checkpoint under "
                                f"{run_dir / 'checkpoints'})")
        if not resume and is_run(run_dir):  # checked under the lock: a racing writer cannot slip in
            if not overwrite:
                raise RunDirError(f"--out {run_dir} already holds a run; continue it with --resume, or pass "
                                  "--overwrite to move it aside and start again, or choose another --out")
            lock.release()
            aside = _move_aside(run_dir)
            _make(run_dir)
            lock.acquire()
        yield aside
    finally:
        lock.release()


def _make(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"--out {run_dir} cannot be created ({exc.strerror})") from None


# ---------------------------------------------------------------------------------------------- atomic files

def _say_write_failed(path: Path, exc: BaseException) -> TrainingError:
    code = getattr(exc, "errno", None)
    reason = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file-size limit was reached",
              errno.EDQUOT: "the disk quota is exceeded", errno.EROFS: "the file system is read-only",
              errno.EACCES: "permission denied"}.get(code, getattr(exc, "strerror", None) or first_line(exc))
    kept = "; the previous version of the file is intact" if path.exists() else ""
    return TrainingError(f"could not write {path}: {reason}{kept}")


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` to write to; on success it is fsynced and replaces ``path``."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as exc:  # a read-only run directory, a full disk
        raise _say_write_failed(path, exc) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # KeyboardInterrupt too: no temporary file is left behind
        tmp.unlink(missing_ok=True)
        if isinstance(exc, FusionError) or not isinstance(exc, Exception):
            raise
        if isinstance(exc, OSError) or "No space" in str(exc) or "too large" in str(exc):
            raise _say_write_failed(path, exc) from None
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


# ---------------------------------------------------------------------------------------------- resume

#: Sections that define what the checkpoint's weights and data positions mean: a change is an error.
FIXED = ("model", "data", "objective", "plugins", "train.batch_size", "train.accumulate", "train.seed",
         "train.optimizer.name", "train.schedule.name")
#: Keys inside FIXED that may change freely (they change neither weights nor the order of samples).
FREE = ("data.num_workers", "data.on_error")
#: Changes that are allowed but change the run's meaning: an explicit warning.
WARNED = ("train.epochs", "train.optimizer", "train.schedule", "train.max_steps", "train.precision")


def _differences(old, new, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(key), new.get(key), f"{prefix}.{key}")
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def check_resume(saved: dict, recipe: dict, run_dir: Path) -> list[str]:
    """Raise if ``recipe`` cannot continue the run whose recipe was ``saved``; return the warnings to print."""
    from fusion.recipe import DEFAULTS, deep_merge

    saved = deep_merge(DEFAULTS, saved)  # a default added since the run was written is no change
    errors = [d for key in FIXED for d in _differences(lookup(saved, key), lookup(recipe, key), key)
              if not d.startswith(tuple(f"{k}:" for k in FREE))]
    if errors:
        raise RecipeError(f"--resume: the recipe differs from {run_dir / 'recipe.yaml'} where the checkpoint "
                          f"depends on it ({'; '.join(errors[:3])}); resume with the run's recipe, or train into "
                          "a new --out")
    return [d for key in WARNED for d in _differences(lookup(saved, key), lookup(recipe, key), key)]


def trim_metrics(run_dir: Path, state: dict) -> int:
    """Drop ``metrics.jsonl`` records logged after the checkpoint a run resumes from (they are logged again),
    so a resumed run's metrics hold each step and epoch once; returns how many were dropped."""
    import json

    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # half a line written by a killed process
            dropped += 1
            continue
        event = record.get("event") if isinstance(record, dict) else None
        late = (event == "step" and isinstance(record.get("step"), int) and record["step"] > state["global_step"]) or (
            event in ("eval", "epoch") and isinstance(record.get("epoch"), int) and record["epoch"] > state["epoch"])
        if late:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        atomic_write(path, "".join(f"{line}\n" for line in kept))
    return dropped
