"""Classification metrics computed from gathered scores: top-k, per-class accuracy, confusion matrix."""

from __future__ import annotations

import numpy as np
import torch

from fusion.types import MetricSpec


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores (k clipped to the class count)."""
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return float((top == labels[:, None]).any(1).float().mean())


def confusion_matrix(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    pred = scores.argmax(1)
    flat = labels.long() * num_classes + pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes).numpy()


def classification_report(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    cm = confusion_matrix(scores, labels, num_classes)
    support = cm.sum(1)
    per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    return {
        "top1": topk_accuracy(scores, labels, 1),
        "top5": topk_accuracy(scores, labels, 5),
        "mean_class_accuracy": float(np.nanmean(per_class)) if support.any() else float("nan"),
        "per_class": [None if np.isnan(a) else float(a) for a in per_class],
        "confusion": cm.tolist(),
        "count": int(len(labels)),
    }


def _topk_metric(k: int = 1):
    return lambda scores, labels: {f"top{k}": topk_accuracy(scores, labels, k)}


SPECS = [
    MetricSpec(name="topk", factory=_topk_metric, doc="Top-k accuracy (k from args, default 1)."),
]
