"""Bench outputs: results.csv / results.json (one row per cell), report.md (mean ± std over seeds), plots."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

COLUMNS = ["recipe", "seed", "condition", "split", "checkpoint", "top1", "top5", "mean_class_accuracy", "params",
           "gflops"]


def write_results(rows: list[dict], out: Path, class_names: list[str] | None = None) -> dict[str, Path]:
    """Write every output of a bench; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "json": out / "results.json", "report": out / "report.md"}
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    paths["json"].write_text(json.dumps(rows, indent=1))
    summary = summarise(rows)
    paths["report"].write_text(markdown_report(summary, out.name))
    paths.update(write_plots(rows, summary, out, class_names))
    return paths


def _mean_std(values: list) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values)) if len(values) > 1 else 0.0


def summarise(rows: list[dict]) -> dict:
    """``{(recipe, condition): {"top1": (mean, std), "n": seeds, "params", "gflops"}}`` in row order."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["recipe"], row["condition"])].append(row)
    return {
        key: {
            "top1": _mean_std([r["top1"] for r in group]),
            "mean_class_accuracy": _mean_std([r["mean_class_accuracy"] for r in group]),
            "n": len(group),
            "params": group[0].get("params"),
            "gflops": group[0].get("gflops"),
        }
        for key, group in groups.items()
    }


def _cell(stat: tuple[float, float]) -> str:
    mean, std = stat
    return "n/a" if math.isnan(mean) else f"{100 * mean:.1f} ± {100 * std:.1f}"


def markdown_report(summary: dict, title: str) -> str:
    """Top-1 (%) per recipe (rows) and condition (columns), mean ± std over seeds, with cost columns."""
    recipes = list(dict.fromkeys(r for r, _ in summary))
    conditions = list(dict.fromkeys(c for _, c in summary))
    first = {r: summary[(r, conditions[0])] for r in recipes}
    seeds = max(s["n"] for s in summary.values())
    lines = [
        f"# Bench: {title}",
        "",
        f"Test top-1 accuracy (%) @best(val): each run's checkpoint selected on the validation split (precise "
        f"BatchNorm statistics), measured once on the test split; mean ± std over {seeds} seed(s); n/a = condition "
        "not applicable.",
        "",
        "| recipe | params | GFLOPs/sample | " + " | ".join(conditions) + " |",
        "|---|---:|---:|" + "---:|" * len(conditions),
    ]
    for recipe in recipes:
        cost = first[recipe]
        params = f"{cost['params']:,}" if cost.get("params") is not None else "?"
        gflops = f"{cost['gflops']:.3f}" if cost.get("gflops") is not None else "?"
        cells = " | ".join(_cell(summary[(recipe, c)]["top1"]) if (recipe, c) in summary else "" for c in conditions)
        lines.append(f"| {recipe} | {params} | {gflops} | {cells} |")
    return "\n".join(lines) + "\n"


def write_plots(rows: list[dict], summary: dict, out: Path, class_names: list[str] | None) -> dict[str, Path]:
    """Accuracy vs FLOPs, vs corruption ratio, with each modality dropped, and per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    clean = conditions[0]

    fig, ax = plt.subplots(figsize=(6, 4))
    for recipe in recipes:
        stat = summary[(recipe, clean)]
        if stat["gflops"] is not None and not math.isnan(stat["top1"][0]):
            ax.errorbar(stat["gflops"], 100 * stat["top1"][0], yerr=100 * stat["top1"][1], fmt="o", capsize=3)
            ax.annotate(recipe, (stat["gflops"], 100 * stat["top1"][0]), fontsize=8, xytext=(4, 2),
                        textcoords="offset points")
    ax.set(xscale="log", xlabel="GFLOPs per sample", ylabel=f"top-1 (%), {clean}", title="accuracy vs cost")
    paths["accuracy_vs_flops"] = _save(fig, out / "accuracy_vs_flops.png")

    corrupt = [r for r in rows if r.get("corruption_ratio") is not None]
    if corrupt:
        fig, ax = plt.subplots(figsize=(6, 4))
        for recipe in recipes:
            points = defaultdict(list)
            for r in corrupt:
                if r["recipe"] == recipe and r["top1"] is not None:
                    points[r["corruption_ratio"]].append(r["top1"])
            clean_top1 = summary[(recipe, clean)]["top1"][0]
            if not math.isnan(clean_top1):
                points.setdefault(0.0, [clean_top1])
            ratios = sorted(points)
            ax.plot(ratios, [100 * np.mean(points[x]) for x in ratios], marker="o", label=recipe)
        ax.set(xlabel="corruption ratio", ylabel="top-1 (%)", title="accuracy vs corruption")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over the data
        paths["accuracy_vs_corruption"] = _save(fig, out / "accuracy_vs_corruption.png")

    drops = [c for c in conditions if c.startswith("drop")]
    if drops:
        fig, ax = plt.subplots(figsize=(max(6, len(recipes)), 4))
        width = 0.8 / (len(drops) + 1)
        for j, condition in enumerate([clean, *drops]):
            values = [100 * summary[(r, condition)]["top1"][0] for r in recipes]
            ax.bar(np.arange(len(recipes)) + j * width, np.nan_to_num(values), width, label=condition)
        ax.set_xticks(np.arange(len(recipes)) + width * len(drops) / 2, recipes, rotation=30, ha="right", fontsize=8)
        ax.set(ylabel="top-1 (%)", title="accuracy with a modality dropped at test time")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        paths["accuracy_with_drop"] = _save(fig, out / "accuracy_with_drop.png")

    per_class = [(r["recipe"], r["per_class"]) for r in rows if r["condition"] == clean and r.get("per_class")]
    if per_class:
        table = defaultdict(list)
        for recipe, values in per_class:
            table[recipe].append([np.nan if v is None else v for v in values])
        names = list(table)
        matrix = np.array([np.nanmean(np.array(table[n]), axis=0) for n in names])
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * matrix.shape[1] + 2), 0.4 * len(names) + 2))
        image = ax.imshow(100 * matrix, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        labels = class_names if class_names and len(class_names) == matrix.shape[1] else range(matrix.shape[1])
        ax.set_xticks(range(matrix.shape[1]), labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        fig.colorbar(image, ax=ax, label="per-class top-1 (%)")
        ax.set_title(f"per-class accuracy ({clean})")
        paths["per_class"] = _save(fig, out / "per_class.png")
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
