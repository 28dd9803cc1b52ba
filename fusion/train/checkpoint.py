"""Atomic checkpoints: Accelerate state written to a temporary folder, then renamed into place.

A folder is only used if it holds the ``COMPLETE`` marker, written last; a kill while saving leaves at
worst a stale temporary folder that is ignored and cleaned up on the next save.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils.other import load as safe_load

from fusion.errors import TrainingError

MARKER = "COMPLETE"
STATE_FILE = "trainer_state.json"


def checkpoint_dir(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / "checkpoints" / name


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


def save_checkpoint(accelerator: Accelerator, run_dir: Path, name: str, state: dict) -> Path:
    """Save model/optimiser/RNG state plus ``state`` (epoch, step, ...) as checkpoint ``name``."""
    final = checkpoint_dir(run_dir, name)
    tmp = final.with_name(f".tmp-{name}")
    old = final.with_name(f".old-{name}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
        (tmp / MARKER).write_text("ok\n")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
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
            f"checkpoint {path} could not be loaded safely ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "it may be corrupt, from another model, or crafted to run code"
        ) from None


def find_checkpoint(run_dir: Path, name: str = "last") -> Path | None:
    """The complete checkpoint ``name``, or the previous one if a save was interrupted mid-rename."""
    for candidate in (checkpoint_dir(run_dir, name), checkpoint_dir(run_dir, f".old-{name}")):
        if candidate.is_dir() and is_complete(candidate):
            return candidate
    return None


def read_state(path: Path) -> dict:
    return json.loads((path / STATE_FILE).read_text())
