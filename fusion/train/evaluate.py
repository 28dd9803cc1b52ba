"""Evaluation: every test sample counted once (also for odd sizes across processes), saved predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from fusion.data.workers import guard_workers
from fusion.metrics import classification_report


@torch.no_grad()
def predict(accelerator: Accelerator, model, loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores (N, K), labels (N,), indices (N,)) over the whole loader, gathered from every process.

    ``gather_for_metrics`` drops the samples Accelerate duplicated to even out the last batch.
    """
    was_training = model.training
    model.eval()
    scores, labels, indices = [], [], []
    for batch in guard_workers(loader, getattr(loader, "dataset", None)):
        logits = model(batch).logits.float()
        logits, label, index = accelerator.gather_for_metrics((logits, batch["label"], batch["index"]))
        scores.append(logits.cpu())
        labels.append(label.cpu())
        indices.append(index.cpu())
    model.train(was_training)
    if not scores:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(scores), torch.cat(labels), torch.cat(indices)


def evaluate(accelerator: Accelerator, model, loader, num_classes: int) -> tuple[dict, dict]:
    """Classification report plus the raw predictions (for saving and score fusion)."""
    scores, labels, indices = predict(accelerator, model, loader)
    report = classification_report(scores, labels, num_classes)
    report["unique_indices"] = int(torch.unique(indices).numel())
    return report, {"scores": scores.numpy(), "labels": labels.numpy(), "indices": indices.numpy()}


def save_predictions(path: Path, predictions: dict, class_names: list[str]) -> None:
    """``.npz`` without pickled objects: loadable with ``allow_pickle=False``."""
    np.savez(path, class_names=np.array(class_names, dtype=str), **predictions)


def load_predictions(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
