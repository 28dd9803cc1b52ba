"""Class counts per split and which modalities each sample has: the first look at a dataset.

Cheap where the dataset allows it: labels from its ``labels`` property, per-sample modalities from
``info(i).modalities`` (format readers); otherwise every item is loaded once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SplitStats:
    split: str
    samples: int
    counts: np.ndarray  # (num_classes,) samples per class
    available: dict[str, int]  # modality -> samples that have it
    class_names: list[str]


def _modalities_of(base, index: int, wanted: list[str], sample: dict | None) -> set[str]:
    info = getattr(base, "info", None)
    if sample is None and callable(info):
        return set(getattr(info(index), "modalities", ()))
    if sample is None:
        sample = base[index]
    return {m for m in wanted if sample.get(m) is not None}


def split_stats(dataset, split: str, modalities: list[str], num_classes: int | None = None) -> SplitStats:
    """Counts for one split. ``modalities``: those to report (the recipe's, or the dataset's own)."""
    base = getattr(dataset, "base", dataset)
    labels = getattr(base, "labels", None)
    has_info = callable(getattr(base, "info", None))
    declared = getattr(base, "modalities", None)
    load_all = labels is None or not (has_info or declared)
    samples = [base[i] for i in range(len(base))] if load_all else [None] * len(base)
    if labels is None:
        labels = [s.get("label", -1) for s in samples]
    labels = np.asarray(labels, dtype=np.int64)
    k = max(int(num_classes or getattr(base, "num_classes", 0) or 0), int(labels.max(initial=-1)) + 1)
    counts = np.bincount(labels[labels >= 0], minlength=k)
    if not load_all and not has_info:
        # a generated dataset yields every modality it was asked for, for every sample
        available = {m: (len(base) if m in declared else 0) for m in modalities}
    else:
        available = dict.fromkeys(modalities, 0)
        for i, sample in enumerate(samples):
            for m in _modalities_of(base, i, modalities, sample) & set(modalities):
                available[m] += 1
    names = list(getattr(base, "class_names", None) or [])
    names = names + [str(c) for c in range(len(names), k)]
    return SplitStats(split, len(base), counts, available, names)


def format_stats(stats: list[SplitStats]) -> str:
    """One table of class counts (a column per split) and one of modality availability."""
    names = stats[0].class_names
    k = max(len(s.counts) for s in stats)
    labels = [str(c) if n == str(c) else f"{c} {n}" for c, n in enumerate(names)]
    width = max([len("class")] + [len(label) for label in labels])
    cols = [max(len(s.split), 6) for s in stats]
    header = f"{'class':<{width}}  " + "  ".join(f"{s.split:>{w}}" for s, w in zip(stats, cols))
    lines = [header]
    for c in range(k):
        label = labels[c] if c < len(labels) else str(c)
        cells = [int(s.counts[c]) if c < len(s.counts) else 0 for s in stats]
        lines.append(f"{label:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(cells, cols)))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{s.samples:>{w}}" for s, w in zip(stats, cols)))
    lines.append("")
    lines.append("modality availability (samples that have it / samples):")
    for s in stats:
        cells = ", ".join(f"{m} {n}/{s.samples}" for m, n in s.available.items())
        lines.append(f"  {s.split}: {cells}")
    return "\n".join(lines)


def stats_json(stats: list[SplitStats]) -> dict:
    return {
        s.split: {
            "samples": s.samples,
            "class_counts": {s.class_names[c]: int(n) for c, n in enumerate(s.counts)},
            "modalities": s.available,
        }
        for s in stats
    }
