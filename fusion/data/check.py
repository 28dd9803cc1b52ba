"""Scan a recipe's datasets for bad samples before a run, so a broken file fails at start-up, not mid-epoch.

A dataset that knows its files better than "load every item" (a format reader that decodes only the
frames training uses, say) provides ``check(progress) -> [(sample id, message), ...]``; any other
dataset is scanned by loading each item and checking that its float arrays are finite.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fusion.errors import error_message

Progress = Callable[[int, int], None]


#: Fault classes of ``fusion data check``'s counts: (class, pattern of the message), first match wins.
FAULT_CLASSES: tuple[tuple[str, re.Pattern], ...] = tuple((name, re.compile(pattern, re.I)) for name, pattern in (
    ("reader bug", r"^[A-Za-z]*(Error|Exception|Interrupt)\b"),  # a non-Fusion exception: a reader let it through
    ("not a regular file", r"named pipe|a directory|a device|not a regular file"),
    ("missing file", r"not found|no such file"),
    ("too large", r"budget|above the limit|larger than|zip bomb|bytes it holds|more memory"),
    ("unsafe pickle", r"refusing to load global"),
    ("truncated", r"truncated|ends early|only \d+ (more )?line"),
    ("non-finite values", r"NaN|inf value|finite"),
    ("interval past the end", r"interval|past the end|after the sequence"),
    ("bad label", r"label|action_id|class index|one-hot"),
    ("empty sample", r"no person|no body|all zeros|no depth reading|is empty|no frame|no video stream"),
    ("undecodable", r"cannot decode|cannot open|not a readable|not a text file|not UTF-8|malformed JSON|unusable JSON"),
    ("wrong size or count", r"should (have|be)|expected \d|wrong (joint|channel)|differ|declares"),
))


def fault_class(message: str) -> str:
    """The class a problem message belongs to, for per-class counts ("malformed" when none matches)."""
    return next((name for name, pattern in FAULT_CLASSES if pattern.search(message)), "malformed")


@dataclass
class SplitReport:
    """What scanning one split found: its size and every bad sample as (id, message)."""

    split: str
    samples: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Problems per fault class, most frequent first."""
        counts = Counter(fault_class(message) for _, message in self.problems)
        return dict(counts.most_common())



def sample_name(dataset, index: int) -> str:
    """The id a person would look for (NTU name, file name), falling back to the index."""
    finder = getattr(dataset, "sample_id", None)
    if callable(finder):
        try:
            return str(finder(index))
        except Exception:
            pass
    info = getattr(dataset, "info", None)
    if callable(info):
        try:
            return str(info(index).id)
        except Exception:
            pass
    return f"sample {index}"


def nonfinite(sample: dict) -> str | None:
    """A message naming the first float array of ``sample`` with NaN or infinite values, else None."""
    for key, value in sample.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int(np.size(value) - np.isfinite(value).sum())
            return f"{key} {tuple(value.shape)} has {bad} NaN or infinite value(s)"
    return None


def scan(dataset, progress: Progress | None = None) -> list[tuple[str, str]]:
    """Every bad sample of ``dataset`` as (id, message); its own ``check`` when it has one."""
    base = getattr(dataset, "base", dataset)  # a RecipeDataset: scan what it wraps, without transforms
    own = getattr(base, "check", None)
    if callable(own):
        return [(str(name), str(message)) for name, message in own(progress)]
    problems = []
    total = len(base)
    for index in range(total):
        try:
            sample = base[index]
            message = nonfinite(sample) if isinstance(sample, dict) else "the item is not a sample dict"
        except Exception as exc:  # every failure is reported, not only DataError
            message = error_message(exc)
        if message:
            problems.append((sample_name(base, index), message))
        if progress is not None:
            progress(index + 1, total)
    return problems


def check_splits(build: Callable[[str], object], splits: list[str], progress: Progress | None = None) -> list[SplitReport]:
    """Build each split with ``build(split)`` and scan it; a split that cannot be built is one problem."""
    reports = []
    for split in dict.fromkeys(splits):
        report = SplitReport(split)
        try:
            dataset = build(split)
        except Exception as exc:
            listed = getattr(exc, "problems", None)  # a reader listing every bad index file (DataProblems)
            if listed:
                report.problems.extend((str(name), str(message)) for name, message in listed)
            else:
                report.problems.append((f"{split} split", f"cannot build the dataset: {error_message(exc)}"))
            reports.append(report)
            continue
        report.samples = len(dataset)
        report.problems = scan(dataset, progress)
        reports.append(report)
    return reports
