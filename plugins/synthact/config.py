"""Generation parameters: validated once, hashed for the cache, shared by the dataset and the writers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from fusion.errors import DataError
from fusion_plugins.synthact.actions import MAX_CLASSES

MODALITIES: tuple[str, ...] = ("skeleton", "pose2d", "rgb", "depth", "pointcloud")
SPLITS: tuple[str, ...] = ("train", "val", "test", "trainval", "all")
PROTOCOLS: tuple[str, ...] = ("xsub", "xview")
#: Bump when generation changes, so stale caches are not reused.
GENERATOR_VERSION = 2  # 2: validation subjects of their own (1: the highest odd training subject validated)


@dataclass(frozen=True)
class SynthActConfig:
    """Everything that determines the generated arrays (the split and protocol only select from them)."""

    subjects: int = 10  # performers of the official protocol: odd ones train, even ones test (xsub)
    val_subjects: int = 1  # extra performers numbered after them, generated only to validate (xsub)
    classes: int = 12
    frames: int = 32
    size: int = 64
    repetitions: int = 2
    seed: int = 0
    points: int = 256
    second_person: bool = False
    nuisance: float = 1.0  # scales every noise level; 0 gives clean data

    def __post_init__(self) -> None:
        _check_int("subjects", self.subjects, 2, 999, "at least 2 (half train, half test)")
        _check_int("val_subjects", self.val_subjects, 0, 999, "0 to 999 (0: no cross-subject validation split)")
        _check_int("classes", self.classes, 2, MAX_CLASSES, f"2 to {MAX_CLASSES}")
        _check_int("frames", self.frames, 4, 10_000, "at least 4")
        _check_int("size", self.size, 16, 4096, "an even number of pixels, at least 16")
        if self.size % 2:
            raise DataError(f"synthact: size={self.size} must be even (video encoders need even sizes)")
        _check_int("repetitions", self.repetitions, 1, 999, "1 to 999")
        _check_int("points", self.points, 1, 1_000_000, "at least 1")
        _check_int("seed", self.seed, 0, 2**63 - 1, "a non-negative integer")
        if not isinstance(self.second_person, bool):
            raise DataError(f"synthact: second_person={self.second_person!r} must be true or false")
        if not isinstance(self.nuisance, (int, float)) or not 0 <= self.nuisance <= 10:
            raise DataError(f"synthact: nuisance={self.nuisance!r} must be a number from 0 to 10 (1 = default noise)")

    @property
    def persons(self) -> int:
        """M: bodies per sample (1, or 2 with the second person)."""
        return 2 if self.second_person else 1

    def key(self) -> str:
        """A short hash of every parameter and the generator version: the cache folder name."""
        fields = dataclasses.asdict(self) | {"version": GENERATOR_VERSION}
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _check_int(name: str, value, low: int, high: int, allowed: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DataError(f"synthact: {name}={value!r} is not allowed; {name} must be {allowed}")


def check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DataError(f"synthact: {name}={value!r} is not allowed; choose one of {', '.join(allowed)}")


def check_modalities(modalities) -> tuple[str, ...]:
    """``None`` → every modality; otherwise a list of known names (order kept, duplicates dropped)."""
    if modalities is None:
        return MODALITIES
    if isinstance(modalities, str):
        modalities = [modalities]
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise DataError(
            f"synthact: modalities={list(modalities)!r} is not allowed; choose from {', '.join(MODALITIES)}"
        )
    return tuple(dict.fromkeys(modalities))
