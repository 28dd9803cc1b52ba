"""PKU-MMD (v1/v2) skeletons: long sequences cut into action clips by the label files.

PKU-MMD is a detection dataset: ``skeleton_dir/<seq>.txt`` holds one line per frame of 150
values (2 persons x 25 joints x xyz, NTU joint order; an absent second person is zeros), and
``label_dir/<seq>.txt`` one line per action instance, ``action_id,start_frame,end_frame,confidence``.
Every label line becomes one sample: frames ``[start, end)`` of its sequence (``end_inclusive``
takes ``[start, end]``; the release does not say which, so this is an option), label
``action_id - 1``. Sequence names end in the view, ``-L``, ``-M`` or ``-R``.

Splits: ``split_file`` (the release's ``cross-subject.txt`` / ``cross-view.txt``) is read as a
"train" section and a "validation"/"test" section of comma- or space-separated sequence names;
without it, ``protocol: xview`` trains on the M and R views and tests on L (the paper's cross-view
setting). Cross-subject needs the split file.
Samples: ``skeleton`` (2, T, 25, 3) float32 metres.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from fusion.data.limits import check_elements
from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.class_names import pku_mmd_names
from fusion_plugins.formats.common import (
    DataProblems,
    FormatDataset,
    SampleInfo,
    check_choice,
    check_count,
    check_finite,
    read_text,
    require_dir,
    require_file,
)

VALUES_PER_FRAME = 150  # 2 persons x 25 joints x 3
XVIEW_TRAIN_VIEWS = frozenset({"M", "R"})
PARTS = {"train": "train", "test": "test", "val": "test", "all": "all"}


def read_split_file(path: Path) -> dict[str, set[str]]:
    """``{"train": names, "test": names}`` from a PKU-MMD split list."""
    sections: dict[str, set[str]] = {"train": set(), "test": set()}
    current = None
    for line in read_text(path).splitlines():
        head, colon, rest = line.partition(":")
        if colon:
            word = head.strip().lower()
            current = "train" if word.startswith("train") else "test" if word.startswith(("valid", "test")) else None
            line = rest
        if current is not None:
            sections[current].update(n for n in re.split(r"[,\s]+", line) if n)
    if not sections["train"] or not sections["test"]:
        raise DataError(f"{path}: expected a 'Training videos:' and a 'Validation videos:' section of sequence names")
    return sections


def read_labels(path: Path) -> list[tuple[int, int, int]]:
    """``(action_id, start, end)`` for each line of a label file."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        values = [_integer(f) for f in fields[:3]]
        if len(fields) < 3 or None in values:
            raise DataError(f"{path}, line {number}: expected 'action_id,start_frame,end_frame,confidence' "
                            f"(three integers first), got {line.strip()[:60]!r}")
        action, start, end = values
        if end <= start or start < 0:
            raise DataError(f"{path}, line {number}: expected 'action_id,start_frame,end_frame,confidence' with "
                            f"0 <= start < end, got {line.strip()[:60]!r}")
        rows.append((action, start, end))
    return rows


def _integer(text: str) -> int | None:
    """An integer written as ``12`` or ``12.0``; None for ``12.5``, ``1e999``, ``nan`` or a word."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if np.isfinite(value) and value.is_integer() and abs(value) < 2**53 else None


@lru_cache(maxsize=4)  # the clips of one sequence are usually read together
def read_sequence(path: Path) -> np.ndarray:
    """(F, 2, 25, 3) float32 from a skeleton text file of 150 values per line."""
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path}: the skeleton file is empty")
    check_elements(2 * len(lines) * VALUES_PER_FRAME, 4, path, f"{len(lines)} frames of {VALUES_PER_FRAME} values")
    counts = np.array([len(line.split()) for line in lines])
    bad = np.flatnonzero(counts != VALUES_PER_FRAME)
    if bad.size:
        raise DataError(f"{path}, line {bad[0] + 1}: expected {VALUES_PER_FRAME} values (2 persons x 25 joints x 3), "
                        f"got {counts[bad[0]]} (wrong joint count or truncated line?)")
    try:
        values = np.array(" ".join(lines).split(), dtype=np.float32)
    except ValueError:
        raise DataError(f"{path}: a value is not a number") from None
    return values.reshape(len(lines), 2, 25, 3)


class PkuMmd(FormatDataset):
    """PKU-MMD action clips cut from the sequences by their label intervals (see the module docstring)."""

    provides = ("skeleton",)

    def __init__(self, split: str = "train", skeleton_dir: str | None = None, label_dir: str | None = None,
                 protocol: str = "xview", split_file: str | None = None, end_inclusive: bool = False,
                 num_classes: int = 51, seed: int = 0):
        check_choice("split", split, tuple(PARTS))
        num_classes = check_count("num_classes", num_classes)
        check_choice("protocol", protocol, ("xsub", "xview"))
        skeletons, labels = require_dir(skeleton_dir, "skeleton_dir"), require_dir(label_dir, "label_dir")
        part = PARTS[split]
        members = read_split_file(require_file(split_file, "split_file")) if split_file else None
        if members is None and protocol == "xsub" and part != "all":
            raise RecipeError("data.dataset.args.split_file: PKU-MMD cross-subject needs the release's "
                              "cross-subject.txt")
        self.end_inclusive = bool(end_inclusive)
        infos, problems = [], []
        for label_file in sorted(labels.glob("*.txt")):
            sequence = label_file.stem
            view = sequence.rsplit("-", 1)[-1].upper()
            if part != "all":
                train = sequence in members["train"] if members else view in XVIEW_TRAIN_VIEWS
                listed = sequence in members["train"] | members["test"] if members else True
                if not listed or train != (part == "train"):
                    continue
            try:
                rows = read_labels(label_file)
                bad = next(((k, a) for k, (a, _, _) in enumerate(rows) if not 1 <= a <= num_classes), None)
                if bad is not None:
                    raise DataError(f"{label_file}, instance {bad[0] + 1}: action_id {bad[1]} outside 1..{num_classes}")
            except DataError as exc:  # every bad label file is listed, not only the first
                problems.append((label_file.name, str(exc)))
                continue
            for k, (action, start, end) in enumerate(rows):
                infos.append(SampleInfo(f"{sequence}_{k:03d}", action - 1, str(skeletons / f"{sequence}.txt"),
                                        self.provides, {"start": start, "end": end, "view": view, "sequence": sequence,
                                                        "label_file": f"{label_file}, line {k + 1}"}))
        if problems:
            raise DataProblems(str(labels), problems)
        super().__init__(infos, num_classes, pku_mmd_names(num_classes), seed=seed)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        path = Path(info.path)
        if not path.exists():
            raise DataError(f"{path}: skeleton file not found (needed by label instance {info.id})")
        frames = read_sequence(path)
        start, end = info.extra["start"], info.extra["end"] + int(self.end_inclusive)
        if end > len(frames):  # a clip cut short silently would train on part of the action
            raise DataError(f"{path}: label interval {start}..{info.extra['end']} of {info.id} "
                            f"({info.extra['label_file']}) ends after the sequence's {len(frames)} frames")
        clip = np.ascontiguousarray(frames[start:end].transpose(1, 0, 2, 3))
        check_finite(clip, path, f"joints of frames {start}..{end - 1}")
        if not clip.any():
            raise DataError(f"{path}: frames {start}..{end - 1} of {info.id} ({info.extra['label_file']}) hold no "
                            f"person (all joints 0)")
        return {"skeleton": clip, "label": info.label,
                "meta": {"id": info.id, "dataset": "pku_mmd", "layout": "ntu25", "view": info.extra["view"],
                         "sequence": info.extra["sequence"], "interval": (start, end)}}
