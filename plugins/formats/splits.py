"""NTU RGB+D naming and the official splits, kept in one place (as mmaction2's gen_ntu_rgbd_raw.py does).

A sample is named ``SsssCcccPpppRrrrAaaa``: setup, camera, performer (subject), replication,
action; its label is ``action - 1``. The official protocols:

- ``xsub`` (NTU60 and NTU120): the training performers below, everyone else tests.
- ``xview`` (NTU60): cameras 2 and 3 train, camera 1 tests.
- ``xset`` (NTU120): even setup numbers train, odd ones test.

The NTU120 cross-subject list extends the NTU60 one, and NTU60 has performers 1-40 only, so one
list serves both benchmarks. Split names given to a dataset may be ``train``/``test`` (with a
``protocol`` option), ``val`` (= test), ``all``, or the pickle-style ``xsub_train``/``xsub_val``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion.errors import DataError, RecipeError

NTU60_XSUB_TRAIN_SUBJECTS = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
NTU120_XSUB_TRAIN_SUBJECTS = NTU60_XSUB_TRAIN_SUBJECTS | frozenset({
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94,
    95, 97, 98, 100, 103,
})  # fmt: skip
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})
#: Benchmark → (highest setup, highest action) it contains.
BENCHMARKS: dict[str, tuple[int, int]] = {"ntu60": (17, 60), "ntu120": (32, 120)}
PROTOCOLS = ("xsub", "xview", "xset")
#: Split words → the part of a protocol they select.
PARTS = {"train": "train", "test": "test", "val": "test", "all": "all"}

NTU_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NtuName:
    """The fields of an NTU sample name."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def name(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @property
    def label(self) -> int:
        return self.action - 1

    def meta(self) -> dict:
        return {"id": self.name, "setup": self.setup, "camera": self.camera, "subject": self.subject,
                "replication": self.replication, "action": self.action}


def parse_ntu_name(text: str) -> NtuName | None:
    """The NTU name inside ``text`` (a bare name, a file name or a path), or None if there is none."""
    match = NTU_NAME.search(Path(str(text)).name)
    return NtuName(*(int(g) for g in match.groups())) if match else None


def is_train(name: NtuName, protocol: str) -> bool:
    """Whether ``name`` is in the training part of ``protocol`` (xsub, xview or xset)."""
    if protocol == "xsub":
        return name.subject in NTU120_XSUB_TRAIN_SUBJECTS
    if protocol == "xview":
        return name.camera in XVIEW_TRAIN_CAMERAS
    if protocol == "xset":
        return name.setup % 2 == 0
    raise RecipeError(f"unknown NTU protocol {protocol!r}; protocols: {', '.join(PROTOCOLS)}")


def in_part(name: NtuName, protocol: str, part: str) -> bool:
    """Whether ``name`` belongs to ``part`` ("train", "test" or "all") of ``protocol``."""
    return part == "all" or is_train(name, protocol) == (part == "train")


def in_benchmark(name: NtuName, benchmark: str | None) -> bool:
    """Whether ``name`` is part of ``benchmark`` ("ntu60", "ntu120"; None accepts every name)."""
    if benchmark is None:
        return True
    max_setup, max_action = BENCHMARKS[benchmark]
    return name.setup <= max_setup and name.action <= max_action


def resolve_split(split: str, protocol: str | None) -> tuple[str | None, str]:
    """``(protocol, part)`` from a split word and the protocol option.

    ``"train"``/``"test"``/``"val"``/``"all"`` use ``protocol``; ``"xsub_val"`` and the like carry
    their own protocol (and override the option).
    """
    if split in PARTS:
        return protocol, PARTS[split]
    head, _, tail = split.rpartition("_")
    if head and tail in PARTS:
        return head, PARTS[tail]
    raise RecipeError(f"split {split!r} is not understood; use train, test, val, all or PROTOCOL_train / "
                      f"PROTOCOL_val (e.g. xsub_val)")


def split_key(split: str, protocol: str | None, available: Iterable[str], source: str) -> str | None:
    """The key of a pickle's split table that ``split`` names (None for "all").

    ``split`` may be a key itself (``xsub_train``), or a part (``train``/``test``/``val``) combined
    with ``protocol``; "test" finds ``<protocol>_val`` or ``<protocol>_test``, whichever exists.
    """
    available = list(available)
    if split in available:
        return split
    proto, part = resolve_split(split, protocol)
    if part == "all":
        return None
    if proto is None:
        raise RecipeError(f"split {split!r}: set the dataset's protocol option to one of the split "
                          f"prefixes in {source}: {', '.join(available)}")
    words = ("train",) if part == "train" else ("val", "test")
    for word in words:
        if f"{proto}_{word}" in available:
            return f"{proto}_{word}"
    raise DataError(f"{source}: no split named {' or '.join(f'{proto}_{w}' for w in words)}; "
                    f"splits in the file: {', '.join(available) or '(none)'}")


def read_name_list(path: str | Path) -> set[str]:
    """Sample names listed one per line (the NTU missing-skeleton lists), extensions and blanks ignored."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the sample list: {exc.strerror or exc}") from None
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(Path(line).name.split(".", 1)[0])
    return names


UCLA_NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)")


def validation_groups(ids: list[str]) -> tuple[np.ndarray, str] | None:
    """The group of every sample a validation hold-out keeps on one side, from the sample ids: the NTU
    performer (a seeded hold-out of training subjects, NTU's cross-subject rule, for every protocol),
    the PKU-MMD video (``0002-L_003`` -> ``0002-L``: the release names no performers), the NW-UCLA
    subject; None when the ids follow none of these (the hold-out then picks single samples)."""
    if not ids:
        return None
    names = [parse_ntu_name(i) for i in ids]
    if all(n is not None for n in names):
        return np.array([n.subject for n in names]), "subjects"
    ucla = [UCLA_NAME.search(i) for i in ids]
    if all(m is not None for m in ucla):
        return np.array([int(m.group(2)) for m in ucla]), "subjects"
    if all(re.fullmatch(r"\d{4}-[LMR]_\d+", i) for i in ids):
        return np.array([i.rsplit("_", 1)[0] for i in ids]), "videos"
    return None
