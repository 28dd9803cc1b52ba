"""What every format reader shares: the dataset base class, per-sample info, array checks, ``scan``.

Readers raise :class:`fusion.errors.DataError` for anything wrong with a file, always naming the
file and what was expected, so ``fusion data check`` can list every bad file and a recipe's
``data.on_error: skip`` can drop bad samples. Checks live here so each reader words them alike.

Problems with the whole source (a missing directory, a pickle without ``annotations``) fail when
the dataset is built; problems of one sample (a truncated file, NaN joints) fail when that sample
is read, so :func:`scan` can list every bad sample of a split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fusion.errors import DataError, FusionError, RecipeError


@dataclass(frozen=True)
class SampleInfo:
    """What the index knows about a sample without reading it (for splits, stats and error reports).

    ``path`` is the file that identifies the sample (the one named first in error messages);
    ``modalities`` are those whose files exist for it; ``extra`` holds reader-specific fields.
    """

    id: str
    label: int
    path: str
    modalities: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class FormatDataset(Dataset):
    """Base of the readers: an index of :class:`SampleInfo` for one split; subclasses implement ``load``.

    Readers that sample frames at random (training clips) draw from a generator seeded by
    ``(seed, epoch, index)``, so a run is reproducible; ``set_epoch`` changes the draw per epoch.
    """

    #: Modalities this reader can yield (the DatasetSpec says the same).
    provides: tuple[str, ...] = ()

    def __init__(self, infos: Sequence[SampleInfo], num_classes: int, class_names: Sequence[str] | None = None,
                 seed: int = 0):
        self.infos = list(infos)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(self.num_classes)]
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.infos)

    def info(self, index: int) -> SampleInfo:
        return self.infos[index]

    @property
    def labels(self) -> np.ndarray:
        """Labels of this split in item order (for samplers and class statistics), without reading files."""
        return np.array([i.label for i in self.infos], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self.infos):
            raise IndexError(f"index {index} out of range for {len(self.infos)} samples")
        self.check_label(index)
        return self.load(index)

    def check_label(self, index: int) -> None:
        """A label outside ``0..num_classes-1`` (an NTU file of action 61 with 60 classes, say) is a DataError
        naming the file, not an index error deep inside the loss."""
        info = self.infos[index]
        if not 0 <= info.label < self.num_classes:
            raise DataError(f"{info.path}: sample {info.id} has label {info.label}, outside 0..{self.num_classes - 1} "
                            f"(num_classes {self.num_classes})")

    def load(self, index: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, progress: Callable[[int, int], None] | None = None) -> list[tuple[str, str]]:
        """Read every sample as training would; ``(sample id, message)`` for each one that fails.

        Videos are decoded at the frames the split would sample, not in full, so a file that is
        corrupt only elsewhere can pass. ``progress(done, total)`` is called after each sample.
        """
        problems = []
        for index, info in enumerate(self.infos):
            try:
                self.check_label(index)
                self.load(index)
            except Exception as exc:  # every failure is reported, not only DataError
                problems.append((info.id, error_message(exc)))
            if progress is not None:
                progress(index + 1, len(self.infos))
        return problems

    def __repr__(self) -> str:
        return f"{type(self).__name__}(samples={len(self)}, classes={self.num_classes})"


def error_message(exc: BaseException) -> str:
    """A DataError's own message; other exceptions prefixed with their type (they signal a reader bug)."""
    return str(exc) if isinstance(exc, FusionError) else f"{type(exc).__name__}: {exc}"


def scan(dataset, progress: Callable[[int, int], None] | None = None) -> list[tuple[str, str]]:
    """Every bad sample of ``dataset`` as ``(sample id or index, message)``; empty when all samples load.

    The entry point of ``fusion data check``. ``dataset`` may be a format reader (its ``check``
    is used), a :class:`fusion.data.RecipeDataset` (its base is scanned, transforms are not run)
    or any indexable dataset, whose items are loaded one by one.
    """
    base = getattr(dataset, "base", dataset)
    if callable(getattr(base, "check", None)):
        return base.check(progress)
    problems = []
    for index in range(len(base)):
        try:
            base[index]
        except Exception as exc:
            problems.append((f"sample {index}", error_message(exc)))
        if progress is not None:
            progress(index + 1, len(base))
    return problems


# --------------------------------------------------------------------------------------------
# Checks with messages that name the file


def require_dir(path: str | os.PathLike | None, option: str) -> Path:
    """An existing directory given by recipe option ``option``."""
    if path is None:
        raise RecipeError(f"data.dataset.args.{option}: a directory is required")
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"{option}: directory not found: {path}")
    return path


def require_file(path: str | os.PathLike | None, option: str) -> Path:
    if path is None:
        raise RecipeError(f"data.dataset.args.{option}: a file path is required")
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{option}: file not found: {path}")
    return path


def check_choice(option: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise RecipeError(f"data.dataset.args.{option}: {value!r} is not allowed; allowed values: "
                          f"{', '.join(map(str, allowed))}")


def read_text(path: Path) -> str:
    """The file's text (UTF-8, tolerant of a BOM); a missing or binary file is a DataError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_json(path: Path) -> Any:
    """The file's JSON value; malformed JSON is a DataError with the line and column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def check_finite(array: np.ndarray, path: str | Path, what: str) -> np.ndarray:
    """Return ``array`` if every value is finite, else a DataError naming the first bad element."""
    finite = np.isfinite(array)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        count = int((~finite).sum())
        raise DataError(f"{path}: {what} has {count} NaN/inf value(s), first at index {first} of shape "
                        f"{tuple(array.shape)}")
    return array


def check_count(option: str, value: Any, optional: bool = False) -> int | None:
    """A positive integer option (``None`` too when ``optional``), else a RecipeError naming the option."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RecipeError(f"data.dataset.args.{option}: expected a positive integer{' or null' if optional else ''}, "
                          f"got {type(value).__name__} {value!r}")
    return int(value)


def check_shape(array: np.ndarray, path: str | Path, what: str, ndim: int, axis_sizes: dict[int, int] | None = None) -> None:
    """``array.ndim == ndim`` and ``array.shape[axis] == size`` for each given axis, else a DataError."""
    if array.ndim != ndim:
        raise DataError(f"{path}: {what} should have {ndim} dimensions, got shape {tuple(array.shape)}")
    for axis, size in (axis_sizes or {}).items():
        if array.shape[axis] != size:
            raise DataError(f"{path}: {what} should have {size} along axis {axis} of shape "
                            f"{tuple(array.shape)} (wrong joint or channel count?)")


def layout_for_joints(num_joints: int, channels: int | None = None) -> str:
    """The usual layout name for a joint count (NTU 25, COCO 17, OpenPose 18, NW-UCLA 20)."""
    return {25: "ntu25", 17: "coco17", 18: "openpose18", 20: "nwucla20"}.get(num_joints, f"v{num_joints}")


def infer_num_classes(labels: Sequence[int], given: int | None, what: str) -> int:
    """``given`` if set (and large enough), else ``max(label) + 1`` over the whole index (all splits)."""
    top = max(labels, default=-1) + 1
    if given is None:
        if top == 0:
            raise DataError(f"{what}: no samples found, so the number of classes is unknown")
        return top
    if top > given:
        raise RecipeError(f"data.dataset.args.num_classes is {given} but {what} has label {top - 1}")
    return int(given)
