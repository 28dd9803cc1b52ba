"""Late fusion of saved predictions across runs (multi-stream ensembles: joint, bone, motion...).

Every evaluation saves per-sample scores with the samples' dataset indices (``predictions*.npz``,
no pickle). Runs are aligned by index, their labels must agree, and the fused score is
``Σ_i w_i · s_i`` where ``s_i`` is the run's raw scores or, with ``softmax``, its probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fusion.errors import FusionError
from fusion.metrics import classification_report
from fusion.train.evaluate import load_predictions


def find_predictions(path: Path) -> Path:
    """A ``.npz`` file, or a run directory's ``predictions.npz`` (the end-of-training evaluation)."""
    path = Path(path)
    if path.is_file():
        return path
    candidate = path / "predictions.npz"
    if candidate.is_file():
        return candidate
    raise FusionError(f"{path}: no predictions.npz (train or evaluate the run first, or pass a predictions-*.npz file)")


def weighted_sum(scores: list[np.ndarray], weights: list[float], softmax: bool = False) -> np.ndarray:
    """``Σ_i w_i · s_i`` in float64 over ``(N, K)`` score arrays; with ``softmax`` each ``s_i`` becomes probabilities
    first (the raw-logit sum is what CTR-GCN and PSUMNet report; softmax makes large-logit streams count less)."""
    total = None
    for array, weight in zip(scores, weights):
        array = np.asarray(array, dtype=np.float64)
        if softmax:
            array = torch.softmax(torch.from_numpy(array), dim=-1).numpy()
        total = weight * array if total is None else total + weight * array
    return total


def fuse_scores(paths: list[Path], weights: list[float] | None = None, softmax: bool = False) -> dict:
    """Fuse the predictions of ``paths``; returns scores, labels, indices, class_names and the report."""
    if not paths:
        raise FusionError("fuse-scores: give at least one run directory or predictions file")
    weights = list(weights) if weights else [1.0] * len(paths)
    if len(weights) != len(paths):
        raise FusionError(f"fuse-scores: {len(weights)} weights for {len(paths)} runs; give one weight per run")
    fused, reference, arrays = None, None, []
    for path in paths:
        file = find_predictions(path)
        pred = load_predictions(file)
        order = np.argsort(pred["indices"], kind="stable")
        scores, labels, indices = pred["scores"][order], pred["labels"][order], pred["indices"][order]
        if reference is None:
            reference = {"file": file, "labels": labels, "indices": indices, "class_names": pred.get("class_names")}
        else:
            if not np.array_equal(indices, reference["indices"]):
                raise FusionError(f"{file}: its samples differ from those of {reference['file']} (same split and dataset?)")
            if not np.array_equal(labels, reference["labels"]):
                raise FusionError(f"{file}: labels differ from {reference['file']} for the same samples")
            if scores.shape[1] != arrays[0].shape[1]:
                raise FusionError(f"{file}: {scores.shape[1]} classes, {reference['file']} has {arrays[0].shape[1]}")
        arrays.append(scores)
    fused = weighted_sum(arrays, weights, softmax)
    report = classification_report(torch.from_numpy(fused), torch.from_numpy(reference["labels"]), fused.shape[1])
    return {"scores": fused, "labels": reference["labels"], "indices": reference["indices"],
            "class_names": reference["class_names"], "report": report}
