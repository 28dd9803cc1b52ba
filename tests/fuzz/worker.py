"""Run fuzz cases in this process under a memory cap and a time cap; print one JSON line per case.

``python worker.py OUT_DIR FIRST_SEED CASES TARGET [TARGET ...]``. After the imports, the address
space is capped at its current size + :data:`EXTRA_BYTES` (``RLIMIT_AS``), so a reader that tries
to allocate a gigabyte from a small file fails with MemoryError (reported as a failure, even when a
reader turns it into a message), and every case runs under a :data:`CASE_SECONDS` alarm (a hang,
or a read from a pipe, is a failure too). Outcomes:

- ``accepted``: every sample loaded and is a correct one (finite arrays, at least one frame and one
  person, an integer label inside the class count);
- ``error``: a :class:`fusion.errors.FusionError` whose message names the file (its folder) and is
  not a disguised traceback or out-of-memory;
- ``bug`` (another exception), ``silent`` (a sample that is wrong), ``hang``, ``memory``, ``unnamed``
  (an error that does not say which file): failures.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import shutil
import signal
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mutate  # noqa: E402
from targets import TARGETS, tree_of  # noqa: E402

import fusion_plugins.formats.plugin  # noqa: E402,F401  (every reader imported before the cap)
from fusion.errors import FusionError, RecipeError  # noqa: E402
from fusion.recipe import load_recipe  # noqa: E402,F401

EXTRA_BYTES = 1 << 30
CASE_SECONDS = 10
BAD_WORDS = ("Traceback", "MemoryError", "more memory than")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no result within {CASE_SECONDS} s")


def cap_memory() -> None:
    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size + EXTRA_BYTES, size + EXTRA_BYTES))


def mutated(path: Path, family: str, rng: np.random.Generator) -> str:
    """Replace ``path`` by a mutation of itself; return the mutation's name."""
    data = path.read_bytes()
    if family in ("json", "pickle", "npz") and rng.random() < 0.5:
        try:
            if family == "npz":
                with np.load(path) as npz:
                    arrays = {k: npz[k] for k in npz.files}
                tree, what = mutate.mutate_tree(arrays, rng)
                with open(path, "wb") as f:
                    np.savez(f, **{str(k): np.asarray(v) for k, v in tree.items()})
                return f"npz tree: {what}"
            tree, what = mutate.mutate_tree(tree_of(path, family), rng, json_only=family == "json")
            path.write_bytes(json.dumps(tree).encode() if family == "json" else pickle.dumps(tree, protocol=4))
            return f"{family} tree: {what}"
        except (TypeError, ValueError, OverflowError):
            pass  # a value the writer cannot store: mutate the bytes instead
    if family == "png" and rng.random() < 0.2:
        path.write_bytes(mutate.png_bomb(data, rng))
        return "PNG decompression bomb"
    table = mutate.TEXT if family in ("text", "json") else mutate.BINARY
    name = list(table)[int(rng.integers(len(table)))]
    path.write_bytes(table[name](data, rng))
    return name


def check_sample(sample: dict, classes: int) -> str | None:
    """Why an accepted sample is wrong, or None."""
    label = sample.get("label")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < classes:
        return f"label {label!r} outside 0..{classes - 1}"
    sample_id = (sample.get("meta") or {}).get("id")
    if not isinstance(sample_id, str) or not sample_id or sample_id.startswith("#"):
        return f"sample id {sample_id!r} is not a name from the file"
    for key, value in sample.items():
        if not isinstance(value, np.ndarray):
            continue
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return f"{key} has NaN/inf"
        if value.dtype.kind == "f" and key != "meta" and np.abs(value).max(initial=0) > 1e6:
            return f"{key} has a value beyond 1e6 (a corrupt number accepted)"
        if key in ("skeleton", "pose2d", "depth", "pointcloud"):
            if 0 in value.shape:
                return f"{key} is empty {value.shape}"
            if not value.any():
                return f"{key} {value.shape} is all zeros (no person)"
        if key in ("skeleton", "pose2d") and value.ndim != 4:
            return f"{key} has shape {value.shape}, expected (M, T, V, C)"
    return None


def run_case(target_name: str, seed: int, out: Path) -> dict:
    target = TARGETS[target_name]
    root = out / f"{target_name}-{seed}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng([zlib.crc32(target_name.encode()), seed])
    files = target.write(root)
    path = list(files)[int(rng.integers(len(files)))]
    mutation = mutated(path, files[path], rng)
    case = {"target": target_name, "seed": seed, "file": path.name, "mutation": mutation}
    signal.alarm(CASE_SECONDS)
    try:
        samples, classes = target.read(root)
        signal.alarm(0)
        wrong = next((why for s in samples if (why := check_sample(s, classes))), None)
        case.update(outcome="silent", detail=wrong) if wrong else case.update(outcome="accepted")
    except Hang as exc:
        case.update(outcome="hang", detail=str(exc))
    except MemoryError:
        case.update(outcome="memory", detail="MemoryError under the 1 GiB cap")
    except FusionError as exc:
        message = str(exc)
        named = str(root) in message or (isinstance(exc, RecipeError) and target_name == "recipe_yaml")
        bad = next((w for w in BAD_WORDS if w in message), None)
        outcome = "memory" if bad == "more memory than" else "bug" if bad else "error" if named else "unnamed"
        case.update(outcome=outcome, detail=message[:300], error=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - the point: anything else is a reader bug
        case.update(outcome="bug", detail=f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        signal.alarm(0)
        shutil.rmtree(root, ignore_errors=True)
    return case


def main(argv: list[str]) -> None:
    out, first, count, names = Path(argv[0]), int(argv[1]), int(argv[2]), argv[3:]
    signal.signal(signal.SIGALRM, _alarm)
    cap_memory()
    for name in names:
        for seed in range(first, first + count):
            print(json.dumps(run_case(name, seed, out)), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(sys.argv[1:])
