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
import reprlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from fusion.data.limits import MAX_CLASSES, check_classes, read_limited_text, regular_file
from fusion.errors import DataError, RecipeError, error_message


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

    def sample_id(self, index: int) -> str:
        """The sample's id from the index (for error messages; reads no file)."""
        return self.infos[index].id

    @property
    def labels(self) -> np.ndarray:
        """Labels of this split in item order (for samplers and class statistics), without reading files."""
        return np.array([i.label for i in self.infos], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def validation_groups(self) -> tuple[np.ndarray, str] | None:
        """What a validation hold-out keeps whole (:mod:`fusion.data.validation`): NTU-named samples by
        performer (subject), PKU-MMD samples (``SEQUENCE_k``) by video, NW-UCLA (``aXX_sYY_eZZ``) by subject;
        None for other names (the hold-out then picks samples)."""
        from fusion_plugins.formats.splits import validation_groups

        return validation_groups([info.id for info in self.infos])

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


class DataProblems(DataError):
    """Several bad files found while building an index, all listed at once: ``problems`` is
    ``[(file or entry, message), ...]`` so ``fusion data check`` reports each with its own line."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.problems = list(problems)
        shown = "; ".join(message for _, message in self.problems[:SHOWN_PROBLEMS])
        more = f"; and {len(self.problems) - SHOWN_PROBLEMS} more" if len(self.problems) > SHOWN_PROBLEMS else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s): {shown}{more}")


#: Problems written out in one DataProblems message before "and N more".
SHOWN_PROBLEMS = 5



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
        raise DataError(f"data.dataset.args.{option}: directory not found: {path}; point it at your copy, e.g. "
                        f"data.dataset.args.{option}=/path/to/{path.name} on the command line")
    return path


def require_file(path: str | os.PathLike | None, option: str) -> Path:
    if path is None:
        raise RecipeError(f"data.dataset.args.{option}: a file path is required")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data.dataset.args.{option}: file not found: {path}; point it at your copy, e.g. "
                        f"data.dataset.args.{option}=/path/to/{path.name} on the command line")
    regular_file(path)  # a directory or a named pipe: said so, never opened
    return path


def check_choice(option: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise RecipeError(f"data.dataset.args.{option}: {value!r} is not allowed; allowed values: "
                          f"{', '.join(map(str, allowed))}")


def read_text(path: Path, limit: int | None = None) -> str:
    """The file's text (UTF-8, tolerant of a BOM); a missing, binary, non-regular (a named pipe) or
    oversized file (above ``limit`` bytes, default :func:`fusion.data.limits.text_limit`) is a DataError."""
    return read_limited_text(path, "file", limit)


#: Deepest JSON nesting a reader accepts (the formats nest 4 levels; Python's parser recurses).
MAX_JSON_DEPTH = 32


def read_json(path: Path, limit: int | None = None) -> Any:
    """The file's JSON value; malformed JSON is a DataError with the line and column.

    Numbers too large for a float become ``inf`` and ``NaN`` literals NaN (both found later by the
    finite checks); integers of thousands of digits and nesting deeper than :data:`MAX_JSON_DEPTH` are DataErrors.
    """
    text = read_text(path, limit)
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise DataError(f"{path}: JSON nested {depth} levels deep, more than the {MAX_JSON_DEPTH} a data file may use")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4300 digits
        raise DataError(f"{path}: unusable JSON value: {exc}") from None


def _json_depth(text: str) -> int:
    """Deepest bracket nesting of ``text`` (brackets inside strings counted too: an over-estimate is safe)."""
    opens = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    steps = (opens == ord("[")).astype(np.int32) + (opens == ord("{")) - (opens == ord("]")) - (opens == ord("}"))
    return int(np.cumsum(steps).max(initial=0))


def short(value: Any, width: int = 60) -> str:
    """A bounded repr for messages: a 10,000-deep list or a 1 MB string must not become the message."""
    try:
        return _REPR.repr(value)[:width]
    except (ValueError, RecursionError):  # an int of more than 4300 digits has no repr
        return f"<{type(value).__name__} too large to show>"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 40, 40


def is_integer(value: Any) -> bool:
    """A true integer label: ``int`` / numpy integer, not ``bool`` (True is not class 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_label_value(value: Any, where: str, num_classes: int | None = None) -> int:
    """A label as ``int``; a bool, float, string, negative value or one ``>= num_classes`` is a DataError."""
    if not is_integer(value):
        raise DataError(f"{where}: label {short(value)} is a {type(value).__name__}, expected an integer class index")
    value = int(value)
    if value < 0 or (num_classes is not None and value >= num_classes):
        allowed = f"0..{num_classes - 1}" if num_classes is not None else "an integer >= 0"
        raise DataError(f"{where}: label {value} is outside {allowed}")
    check_classes(value + 1, where)
    return value


def label_array(values: Any, where: str) -> np.ndarray:
    """A 1-D int64 array of labels from a list or array; bools, floats, strings or nesting are a DataError."""
    if isinstance(values, np.ndarray):
        array = values
    else:
        if not isinstance(values, (list, tuple)):
            raise DataError(f"{where}: labels should be a list of integers, got {type(values).__name__}")
        bad = next((k for k, v in enumerate(values) if not is_integer(v) or not -(2**62) < v < 2**62), None)
        if bad is not None and is_integer(values[bad]):
            raise DataError(f"{where}: label {bad} is {short(values[bad])}, far above any class count "
                            f"(at most {MAX_CLASSES} classes)")
        if bad is not None:
            raise DataError(f"{where}: label {bad} is {short(values[bad])} ({type(values[bad]).__name__}), "
                            f"expected an integer class index")
        array = np.asarray(values, dtype=object).astype(np.int64) if values else np.zeros(0, np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise DataError(f"{where}: labels should be a 1-D array of integers, got dtype {array.dtype} "
                        f"shape {tuple(array.shape)}")
    if array.size and array.min() < 0:
        raise DataError(f"{where}: label {int(array.min())} is negative")
    if array.size:
        check_classes(int(array.max()) + 1, where)
    return array.astype(np.int64)


def numeric_array(value: Any, path: str | Path, what: str, ndim: int) -> np.ndarray:
    """A float32 array of ``ndim`` dimensions from nested JSON lists of numbers.

    Ragged lists, strings, ``true``/``false`` or ``null`` among the numbers are DataErrors (numpy
    would turn ``true`` into 1.0 and silently change a coordinate).
    """
    try:
        array = np.array(value, dtype=object)
    except (ValueError, TypeError, RecursionError):
        raise DataError(f"{path}: {what} is not a regular array of numbers (ragged lists?)") from None
    if array.ndim != ndim:
        raise DataError(f"{path}: {what} should be a {ndim}-level nested list of numbers, got shape "
                        f"{tuple(array.shape)} (ragged lists or a wrong count?)")
    kinds = set(map(type, array.flat))
    if not kinds <= {int, float}:
        odd = next(k for k in kinds if k not in (int, float))
        name = {bool: "JSON true/false", type(None): "JSON null"}.get(odd, odd.__name__)
        raise DataError(f"{path}: {what} holds a {name} value where numbers are expected")
    try:
        with np.errstate(over="ignore"):  # 1e300 becomes inf, reported by check_finite with its index
            return array.astype(np.float32)
    except OverflowError:  # an integer of hundreds of digits
        raise DataError(f"{path}: {what} holds a number too large for float32") from None


#: Largest coordinate or score a reader accepts: joints are metres or pixels (at most a few thousand);
#: 3e38 from a corrupt float is finite but would blow up training just as an inf would.
MAX_COORDINATE = 1e6


def check_finite(array: np.ndarray, path: str | Path, what: str) -> np.ndarray:
    """Return ``array`` if every value is finite and plausible (``|v| <= MAX_COORDINATE``), else a
    DataError naming the first bad element."""
    finite = np.isfinite(array)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        count = int((~finite).sum())
        raise DataError(f"{path}: {what} has {count} NaN/inf value(s), first at index {first} of shape "
                        f"{tuple(array.shape)}")
    huge = np.abs(array) > MAX_COORDINATE
    if huge.any():
        first = tuple(int(i) for i in np.argwhere(huge)[0])
        raise DataError(f"{path}: {what} has {int(huge.sum())} value(s) beyond +-{MAX_COORDINATE:g} (corrupt numbers), "
                        f"first {float(array[first]):g} at index {first} of shape {tuple(array.shape)}")
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
    check_classes(top, what)
    if given is None:
        if top == 0:
            raise DataError(f"{what}: no samples found, so the number of classes is unknown")
        return top
    if top > given:
        raise RecipeError(f"data.dataset.args.num_classes is {given} but {what} has label {top - 1}")
    return int(given)
