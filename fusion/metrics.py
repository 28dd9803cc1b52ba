"""Classification metrics computed from gathered scores: top-k, per-class accuracy, confusion matrix."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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


def knn_scores(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, num_classes: int, k: int = 1,
               temperature: float = 0.0, chunk: int = 1024) -> torch.Tensor:
    """(N_test, K) class scores from the ``k`` most cosine-similar training features.

    ``temperature <= 0``: each neighbour votes 1 (``k=1`` is 1-NN); otherwise ``exp(sim / T)``.
    """
    train_f, test_f = F.normalize(train_f.float(), dim=1), F.normalize(test_f.float(), dim=1)
    k = min(k, train_f.shape[0])
    out = []
    for start in range(0, test_f.shape[0], chunk):
        sim, idx = (test_f[start:start + chunk] @ train_f.t()).topk(k, dim=1)
        weight = (sim / temperature).exp() if temperature > 0 else torch.ones_like(sim)
        votes = torch.zeros(sim.shape[0], num_classes).scatter_add_(1, train_y[idx], weight)
        out.append(votes + 1e-6 * sim[:, :1])  # ties: the nearest neighbour's class wins for k=1 anyway
    return torch.cat(out)


def _topk_metric(k: int = 1):
    return lambda scores, labels: {f"top{k}": topk_accuracy(scores, labels, k)}


SPECS = [
    MetricSpec(name="topk", factory=_topk_metric, doc="Top-k accuracy (k from args, default 1)."),
]
