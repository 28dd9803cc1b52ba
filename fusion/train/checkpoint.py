"""Atomic checkpoints: Accelerate state written to a temporary folder, then renamed into place.

A folder is only used if it holds the ``COMPLETE`` marker, written last; a kill while saving leaves at
worst a stale temporary folder that is ignored and cleaned up on the next save.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils.other import load as safe_load

from fusion.errors import TrainingError, first_line
from fusion.train.rundir import fsync_dir

MARKER = "COMPLETE"
STATE_FILE = "trainer_state.json"


def checkpoint_dir(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / "checkpoints" / name


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


def save_checkpoint(accelerator: Accelerator, run_dir: Path, name: str, state: dict) -> Path:
    """Save model/optimiser/RNG state plus ``state`` (epoch, step, ...) as checkpoint ``name``.

    Every file is fsynced before the marker and the rename; a failed write (disk full, file-size
    limit) removes the temporary folder and raises one sentence, the previous checkpoint untouched.
    """
    final = checkpoint_dir(run_dir, name)
    tmp = final.with_name(f".tmp-{name}")
    old = final.with_name(f".old-{name}")
    try:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
            for file in tmp.iterdir():
                with open(file, "rb") as f:
                    os.fsync(f.fileno())
            (tmp / MARKER).write_text("ok\n")
            fsync_dir(tmp)
    except Exception as exc:  # OSError, or the SafetensorError that wraps one
        shutil.rmtree(tmp, ignore_errors=True)
        previous = find_checkpoint(run_dir, name)
        reason = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file-size limit was reached",
                  errno.EDQUOT: "the disk quota is exceeded"}.get(getattr(exc, "errno", None))
        if reason is None:
            text = str(exc)
            reason = ("the disk is full" if "No space" in text else "the file-size limit was reached"
                      if "too large" in text.lower() else f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}")
        raise TrainingError(f"could not save checkpoint {name!r} in {final.parent}: {reason}; "
                            f"the previous checkpoint {previous or '(none yet)'} is intact") from None
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
        fsync_dir(final.parent)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, path: Path) -> None:
    """Restore Accelerate state; every tensor file is read with ``weights_only=True`` (no code runs)."""
    try:
        # Accelerate skips unreadable RNG files silently; read every pickled file here first, with
        # weights_only=True (Accelerate's allow-list of numpy types), so a crafted file is refused loudly.
        for file in sorted(path.glob("*.pkl")) + sorted(path.glob("*.bin")):
            safe_load(file, map_location="cpu", weights_only=True)
        accelerator.load_state(str(path))
    except Exception as exc:  # an UnpicklingError from a crafted or corrupt file, a shape mismatch, ...
        raise TrainingError(
            f"checkpoint {path} could not be loaded safely ({type(exc).__name__}: {first_line(exc)}); "
            "it may be corrupt, from another model, or crafted to run code"
        ) from None


def find_checkpoint(run_dir: Path, name: str = "last") -> Path | None:
    """The complete checkpoint ``name``, or the previous one if a save was interrupted mid-rename."""
    for candidate in (checkpoint_dir(run_dir, name), checkpoint_dir(run_dir, f".old-{name}")):
        if candidate.is_dir() and is_complete(candidate):
            return candidate
    return None


def read_state(path: Path) -> dict:
    """The checkpoint's ``trainer_state.json``; one sentence if it is missing or damaged."""
    file = path / STATE_FILE
    try:
        state = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{file} is missing or damaged ({first_line(exc)}); "
                            "the checkpoint cannot be used") from None
    if (not isinstance(state, dict) or not all(isinstance(state.get(k), int) for k in ("epoch", "global_step"))
            or not isinstance(state.get("schedule", {}), dict)):
        raise TrainingError(f"{file} is damaged: expected a mapping with integer 'epoch' and 'global_step'")
    return state
