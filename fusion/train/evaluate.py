"""Evaluation: every test sample counted once (also for odd sizes across processes), saved predictions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from fusion.data.workers import guard_workers
from fusion.errors import DataError, RecipeError
from fusion.metrics import classification_report
from fusion.train.console import bar, progress_enabled


@torch.no_grad()
def predict(accelerator: Accelerator, model, loader, counts: dict | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores (N, K), labels (N,), indices (N,)) over the whole loader, gathered from every process.

    ``gather_for_metrics`` drops the samples Accelerate duplicated to even out the last batch. Samples
    dropped by ``data.on_error: skip`` are counted in ``counts["skipped"]``; a batch that lost all of
    its samples is skipped.
    """
    was_training = model.training
    model.eval()
    scores, labels, indices = [], [], []
    skipped, uneven = 0, False
    batches = guard_workers(loader, getattr(loader, "dataset", None))
    total = len(loader) if hasattr(loader, "__len__") else None
    for batch in bar(batches, total=total, desc="eval", enabled=progress_enabled(None, accelerator.is_main_process)):
        skipped += int(batch.get("skipped", 0))
        if _all_ranks_empty(accelerator, batch):
            continue
        logits = _logits_or_empty(accelerator, model, batch)
        (logits, label, index), padded = _gather(accelerator, logits, batch["label"], batch["index"])
        uneven |= padded
        scores.append(logits.cpu())
        labels.append(label.cpu())
        indices.append(index.cpu())
    model.train(was_training)
    if counts is not None:
        counts["skipped"] = counts.get("skipped", 0) + int(
            accelerator.reduce(torch.tensor(skipped, device=accelerator.device), "sum"))
    if not scores:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    scores, labels, indices = torch.cat(scores), torch.cat(labels), torch.cat(indices)
    if uneven:  # the padded gathers kept Accelerate's even-out duplicates of the last batch: keep each sample once
        first = torch.from_numpy(np.sort(np.unique(indices.numpy(), return_index=True)[1]))
        scores, labels, indices = scores[first], labels[first], indices[first]
    return scores, labels, indices


def _gather(accelerator: Accelerator, logits, label, index) -> tuple[tuple, bool]:
    """``gather_for_metrics`` when every rank holds as many samples; after ``data.on_error: skip`` dropped
    some on one rank only, pad, gather and unpad instead (gloo and NCCL gather equal shapes only)."""
    if accelerator.num_processes == 1:
        return accelerator.gather_for_metrics((logits, label, index)), False
    sizes = accelerator.gather(torch.tensor([len(label)], device=accelerator.device)).cpu()
    if bool((sizes == sizes[0]).all()):
        return accelerator.gather_for_metrics((logits, label, index)), False
    width = int(sizes.max())
    padded = [accelerator.gather(accelerator.pad_across_processes(t, dim=0)).cpu() for t in (logits, label, index)]
    keep = torch.cat([torch.arange(rank * width, rank * width + int(n)) for rank, n in enumerate(sizes.tolist())])
    return tuple(t[keep] for t in padded), True


def _all_ranks_empty(accelerator: Accelerator, batch: dict) -> bool:
    kept = torch.tensor(float(len(batch["label"])), device=accelerator.device)
    if accelerator.num_processes > 1:
        kept = accelerator.reduce(kept, "sum")
    return bool(kept == 0)


def _logits_or_empty(accelerator: Accelerator, model, batch: dict) -> torch.Tensor:
    """The batch's logits; a rank whose batch is empty (others' are not) sends (0, K) to the gather."""
    logits = model(batch).logits.float() if len(batch["label"]) else None
    if accelerator.num_processes == 1:
        return logits
    width = accelerator.reduce(torch.tensor(0 if logits is None else logits.shape[-1], device=accelerator.device),
                               "max")
    return torch.zeros(0, int(width), device=accelerator.device) if logits is None else logits


def multi_clip_predict(accelerator: Accelerator, model, loader, clips: int, counts: dict | None = None):
    """Softmax averaged over ``clips`` passes, pass ``c`` seeding the test transforms with epoch ``c``.

    PYSKL's multi-clip testing (``average_clips='prob'``): the test transforms must sample at random
    (e.g. ``skeleton.uniform_sample`` with ``random: true``) for the clips to differ.
    """
    dataset = getattr(loader, "dataset", None)
    if not hasattr(dataset, "set_epoch"):
        raise RecipeError(f"eval.clips={clips} needs a test dataset with set_epoch() to reseed its transforms; "
                          f"got {type(dataset).__name__}")
    total, labels, indices = None, None, None
    try:
        for clip in range(clips):
            dataset.set_epoch(clip)
            scores, clip_labels, clip_indices = predict(accelerator, model, loader, counts if clip == 0 else None)
            order = clip_indices.argsort()  # align the passes sample by sample
            probabilities = scores[order].softmax(-1)
            total = probabilities if total is None else total + probabilities
            labels, indices = clip_labels[order], clip_indices[order]
    finally:
        dataset.set_epoch(0)
    return total / clips, labels, indices


def evaluate(accelerator: Accelerator, model, loader, num_classes: int, clips: int = 1,
             metrics: Sequence[Callable] = ()) -> tuple[dict, dict]:
    """Classification report plus the predictions (for saving and score fusion): logits for one clip,
    averaged softmax probabilities for ``clips`` > 1 (see :func:`multi_clip_predict`). ``report["skipped"]``
    counts the samples ``data.on_error: skip`` dropped (of the first clip). ``metrics`` (the recipe's
    ``eval.metrics``, from ``fusion_add_metrics``) add their ``(scores, labels) -> dict`` to ``report["metrics"]``."""
    counts: dict = {}
    if clips > 1:
        scores, labels, indices = multi_clip_predict(accelerator, model, loader, clips, counts)
    else:
        scores, labels, indices = predict(accelerator, model, loader, counts)
    if not len(labels):
        skipped = counts.get("skipped", 0)
        why = f"all {skipped} samples were skipped as broken (data.on_error: skip)" if skipped else "it has no samples"
        raise DataError(f"nothing to evaluate: {why}; run fusion data check on the recipe")
    report = classification_report(scores, labels, num_classes)
    report["skipped"] = counts.get("skipped", 0)
    if len(labels):  # cross-entropy of the logits, or of the averaged probabilities for several clips
        log_p = scores.clamp_min(1e-12).log() if clips > 1 else scores.log_softmax(-1)
        report["loss"] = float(torch.nn.functional.nll_loss(log_p, labels))
    report["unique_indices"] = int(torch.unique(indices).numel())
    report["metrics"] = {}
    for metric in metrics:
        report["metrics"].update(metric(scores, labels))
    return report, {"scores": scores.numpy(), "labels": labels.numpy(), "indices": indices.numpy()}


def save_predictions(path: Path, predictions: dict, class_names: list[str]) -> None:
    """``.npz`` without pickled objects: loadable with ``allow_pickle=False``."""
    np.savez(path, class_names=np.array(class_names, dtype=str), **predictions)


def load_predictions(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
