"""Figures of a run: training curves and the confusion matrix (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(history: list[dict], path: Path) -> None:
    """Train loss and validation top-1 per epoch (the split that selects `best`; test is never plotted per epoch).

    Pretext-only runs (no classifier) have no accuracy to plot: the right panel stays empty."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(epochs, [h.get("train_loss") for h in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel="train loss", title="Training loss")
    evals = [(h["epoch"], h["val_top1"]) for h in history if h.get("val_top1") is not None]
    if evals:
        ax[1].plot(*zip(*evals), marker="o", color="tab:green")
    ax[1].set(xlabel="epoch", ylabel="val top-1", title="Validation accuracy", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(confusion, class_names: list[str], path: Path, title: str = "Confusion matrix") -> None:
    """Row-normalised confusion matrix (rows: true class)."""
    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=8)
    for i, j in zip(*np.nonzero(cm)):
        ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
