"""Run logging, main process only: ``metrics.jsonl`` (every record, one JSON object per line) and the
experiment trackers of ``train.log_with`` (Accelerate's TensorBoard, W&B and MLflow trackers).

Trackers get each scalar once: the per-step ``loss``/``lr``, the per-epoch record (validation
numbers included) and the final test numbers; the separate evaluation event (with per-class lists)
goes to JSONL only, so TensorBoard shows no scalar twice. W&B and MLflow are configured as usual by their environment
(``WANDB_MODE=offline``, ``MLFLOW_TRACKING_URI=file:...``); without ``MLFLOW_TRACKING_URI`` MLflow
writes a file store inside the run directory.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import warnings
from pathlib import Path

from fusion.errors import RecipeError

#: train.log_with name -> the Python module the tracker needs.
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
SPLITS = ("train", "val", "test")


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _jsonable(value.item())
    return value


def check_log_with(names) -> list[str]:
    """``train.log_with`` as a list of known tracker names whose package is installed."""
    names = [names] if isinstance(names, str) else list(names or [])
    for name in names:
        if name not in TRACKERS:
            raise RecipeError(f"train.log_with: {name!r} is not a tracker; choose from {', '.join(TRACKERS)}")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise RecipeError(f"train.log_with: {name} is not installed (pip install {TRACKERS[name]}); "
                              f"remove it from train.log_with")
    return names


def tracker_tag(event: str, key: str) -> str:
    """``train_loss`` -> ``train/loss``, ``val_top1`` -> ``val/top1``; other keys under the event's name."""
    head, _, rest = key.partition("_")
    return f"{head}/{rest}" if head in SPLITS and rest else f"{event}/{key}"


def flat_config(recipe: dict, prefix: str = "") -> dict:
    """The recipe as flat ``a.b.c`` -> scalar (lists and None as text), what every tracker accepts."""
    out = {}
    for key, value in recipe.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_config(value, name + "."))
        else:
            out[name] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value, default=str)
    return out


def make_trackers(names: list[str], run_dir: Path) -> list:
    from accelerate.tracking import MLflowTracker, TensorBoardTracker, WandBTracker

    trackers = []
    for name in names:
        if name == "tensorboard":
            trackers.append(TensorBoardTracker("tb", run_dir))
        elif name == "wandb":
            trackers.append(WandBTracker(run_dir.name, dir=str(run_dir)))
        elif name == "mlflow":
            if "MLFLOW_TRACKING_URI" not in os.environ:
                import mlflow

                mlflow.set_tracking_uri((run_dir / "mlruns").resolve().as_uri())
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # a file store is our own default
            trackers.append(MLflowTracker(run_dir.name, run_name=run_dir.name))
    return trackers


class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool, log_with=("tensorboard",), config: dict | None = None):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.trackers = []
        names = check_log_with(log_with)
        if enabled:
            for tracker in make_trackers(names, Path(run_dir)):
                try:
                    tracker.start()
                    if config is not None:
                        tracker.store_init_configuration(flat_config(config))
                except Exception as exc:  # a tracker is a convenience: never lose the run to one
                    warnings.warn(f"train.log_with: {type(tracker).__name__} failed to start ({exc}); "
                                  "continuing without it", stacklevel=2)
                    continue
                self.trackers.append(tracker)

    def log(self, record: dict, step: int | None = None) -> None:
        if not self.enabled:
            return
        record = {k: _jsonable(v) for k, v in record.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        event = record.get("event", "run")
        if not self.trackers or step is None or event not in ("step", "epoch", "test"):
            return
        scalars = {tracker_tag(event, key): value for key, value in record.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("epoch", "step")}
        for tracker in self.trackers:
            tracker.log(scalars, step=step)
            if hasattr(tracker, "writer"):
                tracker.writer.flush()

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
