"""Your own skeleton data: a folder of per-sample keypoint files plus a labels CSV.

The generic path from "files on my disk" to a Fusion dataset (``keypoint_folder``)::

    my_data/
      labels.csv            sample,label[,split][,subject]
      clip_0001.npy         (T, V, C) or (M, T, V, C) numbers
      clip_0002.json        {"keypoints": [[[x, y, z], ...], ...]} or the bare nested list
      clip_0003.csv         frame,joint,x,y[,z][,person]   (joint: index or name in the layout)
      clip_0004.npz         an array named "keypoints" (or the only array)

``label`` is a class index or a class name (names are sorted, or ordered by ``class_names``).
Splits: a ``split`` column (train / val / test) is used as given; without one, whole subjects
(``subject`` column) or else single samples are held out by a seeded draw: 20 % test, 10 % val.
Every sample is checked against the layout's joint count, its size against the sample budget,
and read as ``skeleton (M, T, V, C)`` float32.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from fusion.data.limits import check_classes, check_elements, read_limited_text, regular_file
from fusion.errors import DataError
from fusion_plugins.formats.common import (
    FormatDataset,
    SampleInfo,
    check_choice,
    check_count,
    check_finite,
    numeric_array,
    read_json,
    require_dir,
)
from fusion_plugins.formats.sampling import sample_indices

SUFFIXES = (".npy", ".npz", ".json", ".csv")
SPLITS = ("train", "val", "test", "all")
#: Held-out shares when labels.csv has no split column (of subjects, or of samples).
TEST_SHARE, VAL_SHARE = 0.2, 0.1


def _as_persons(array: np.ndarray, path: Path, num_joints: int | None) -> np.ndarray:
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise DataError(f"{path}: keypoints should be (T, V, C) or (M, T, V, C), got shape {tuple(array.shape)}")
    if num_joints is not None and array.shape[2] != num_joints:
        raise DataError(f"{path}: keypoints have {array.shape[2]} joints, the layout has {num_joints}")
    if array.shape[1] == 0 or array.shape[0] == 0:
        raise DataError(f"{path}: no frames or no person in shape {tuple(array.shape)}")
    if not 2 <= array.shape[3] <= 4:
        raise DataError(f"{path}: keypoints have {array.shape[3]} values per joint, expected 2 to 4 (x, y[, z][, score])")
    return array


def _read_npy(path: Path) -> np.ndarray:
    import zipfile

    if path.suffix == ".npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__})") from None
        check_elements(array.size, 4, path, f"keypoints of shape {tuple(array.shape)}")
        return np.asarray(array)
    from fusion_plugins.formats.stgcn import npz_arrays  # headers and inflation checked before loading

    regular_file(path, "keypoint file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz ({type(exc).__name__})") from None
    name = "keypoints" if "keypoints" in names else names[0] if len(names) == 1 else None
    if name is None:
        raise DataError(f"{path}: no array named 'keypoints' among {', '.join(names) or 'none'}")
    return npz_arrays(path, (name,))[0]


def _read_csv(path: Path, joints: tuple[str, ...] | None) -> np.ndarray:
    rows = list(csv.DictReader(io.StringIO(read_limited_text(path, "keypoint file"))))
    if not rows or not {"frame", "joint", "x", "y"} <= set(rows[0]):
        raise DataError(f"{path}: expected a header frame,joint,x,y[,z][,person] and at least one row")
    coords = [c for c in ("x", "y", "z") if c in rows[0]]
    index = {name: i for i, name in enumerate(joints or ())}
    try:
        frame = np.array([int(r["frame"]) for r in rows])
        person = np.array([int(r.get("person") or 0) for r in rows])
        joint = np.array([index[r["joint"]] if r["joint"] in index else int(r["joint"]) for r in rows])
        values = np.array([[float(r[c]) for c in coords] for r in rows], dtype=np.float32)
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{path}: a row has a non-numeric or unknown value ({exc}); joints are indices or layout names") from None
    for what, column in (("frame", frame), ("person", person), ("joint", joint)):
        if column.min() < 0:
            raise DataError(f"{path}: {what} {int(column.min())} is negative")
    shape = (int(person.max()) + 1, int(frame.max()) + 1, int(joint.max()) + 1, len(coords))
    check_elements(np.prod(shape, dtype=object), 4, path, f"keypoints of shape {shape}")
    array = np.zeros(shape, dtype=np.float32)
    array[person, frame, joint] = values
    return array


def read_keypoints(path: str | Path, joints: tuple[str, ...] | None = None) -> np.ndarray:
    """One keypoint file as ``(M, T, V, C)`` float32; ``joints`` (layout names) checks V and resolves CSV names."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        array = _read_npy(path)
    elif suffix == ".json":
        data = read_json(path)
        data = data.get("keypoints") if isinstance(data, dict) else data
        if data is None:
            raise DataError(f"{path}: expected a nested list of keypoints or an object with 'keypoints'")
        depth = 0
        probe = data
        while isinstance(probe, list) and probe:
            probe, depth = probe[0], depth + 1
        array = numeric_array(data, path, "keypoints", max(depth, 3))
    elif suffix == ".csv":
        array = _read_csv(path, joints)
    else:
        raise DataError(f"{path}: unknown keypoint file type {suffix!r}; expected one of {', '.join(SUFFIXES)}")
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: keypoints are {array.dtype}, expected numbers")
    array = _as_persons(np.asarray(array, dtype=np.float32), path, len(joints) if joints else None)
    return check_finite(array, path, "keypoints")


def fit_persons_and_frames(array: np.ndarray, max_bodies: int, num_frames: int | None,
                           rng: np.random.Generator | None = None) -> np.ndarray:
    """``(max_bodies, num_frames, V, C)``: extra persons dropped, missing ones zero, frames sampled uniformly
    (a random offset per segment in training, the centre otherwise; all frames when ``num_frames`` is None)."""
    persons = np.zeros((max_bodies, *array.shape[1:]), dtype=np.float32)
    persons[: min(max_bodies, array.shape[0])] = array[:max_bodies]
    return persons[:, sample_indices(persons.shape[1], num_frames, rng=rng)]


def _held_out(keys: list[str], seed: int) -> dict[str, str]:
    """Seeded split of the distinct ``keys`` (subjects or samples): 20 % test, 10 % val, the rest train."""
    distinct = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(distinct))
    test = max(1, round(TEST_SHARE * len(distinct))) if len(distinct) > 2 else 0
    val = max(1, round(VAL_SHARE * len(distinct))) if len(distinct) > 2 else 0
    part = {}
    for rank, i in enumerate(order):
        part[distinct[i]] = "test" if rank < test else "val" if rank < test + val else "train"
    return part


class KeypointFolder(FormatDataset):
    """A folder of per-sample keypoint files (npy / npz / json / csv) with a labels CSV; see the module doc."""

    provides = ("skeleton",)

    def __init__(
        self,
        root: str,
        layout: str,
        split: str = "train",
        labels: str = "labels.csv",
        class_names: list[str] | None = None,
        num_frames: int | None = 64,
        max_bodies: int = 1,
        channels: int | None = None,
        seed: int = 0,
    ):
        from fusion_plugins.skeleton.layouts import get_layout

        check_choice("split", split, SPLITS)
        self.root = require_dir(root, "root")
        self.layout = get_layout(layout)
        self.layout_name = layout
        self.num_frames = check_count("num_frames", num_frames, optional=True)
        self.max_bodies = check_count("max_bodies", max_bodies)
        self.channels = check_count("channels", channels, optional=True)
        self.split = split
        labels_path = self.root / labels
        table = list(csv.DictReader(io.StringIO(read_limited_text(labels_path, "labels CSV"))))
        if not table or not {"sample", "label"} <= set(table[0]):
            raise DataError(f"{labels_path}: expected a header sample,label[,split][,subject] and one row per sample")
        for line, row in enumerate(table, start=2):  # a short or long row gives None values / a None key
            if None in row or any(not isinstance(value, str) or not value.strip() for value in row.values()):
                raise DataError(f"{labels_path}:{line}: expected one value per header column "
                                f"({','.join(k for k in row if k is not None)}), got {row.get(None) or list(row.values())}")
        seen: dict[str, int] = {}
        for line, row in enumerate(table, start=2):
            first = seen.setdefault(row["sample"], line)
            if first != line:
                raise DataError(f"{labels_path}:{line}: sample {row['sample']!r} is listed again (first on line {first}); "
                                "expected one row per sample")
        names = self._class_names(table, class_names, labels_path)
        column = "split" if "split" in table[0] else "subject" if "subject" in table[0] else "sample"
        parts = {r[column]: r[column] for r in table} if column == "split" else _held_out([r[column] for r in table], seed)
        infos = []
        for line, row in enumerate(table, start=2):
            where = f"{labels_path}:{line}"
            if parts[row[column]] not in ("train", "val", "test"):
                raise DataError(f"{where}: split {row[column]!r} is not train, val or test")
            if split != "all" and parts[row[column]] != split:
                continue
            path = self._sample_path(row["sample"], where)
            label = names.index(row["label"]) if row["label"] in names else self._int_label(row["label"], names, where)
            infos.append(SampleInfo(Path(row["sample"]).stem, label, str(path), ("skeleton",)))
        super().__init__(infos, len(names), names, seed)
        #: what ``data.val_split: auto`` validates a training run on (see fusion/data/validation.py)
        self.validation_split = "val" if split == "train" else None

    @staticmethod
    def _class_names(table: list[dict], given: list[str] | None, where: Path) -> list[str]:
        if given:
            return [str(n) for n in given]
        labels = [r["label"] for r in table]
        if all(label.strip().lstrip("-").isdigit() for label in labels):
            top = max(int(v) for v in labels) + 1
            check_classes(top, where)  # "99999999999" would size a list of class names
            return [str(i) for i in range(top)]
        return sorted(set(labels))

    @staticmethod
    def _int_label(text: str, names: list[str], where: str) -> int:
        if not text.strip().isdigit() or int(text) >= len(names):
            raise DataError(f"{where}: label {text!r} is neither a class name nor an index in 0..{len(names) - 1}")
        return int(text)

    def _sample_path(self, name: str, where: str) -> Path:
        path = self.root / name
        if Path(name).is_absolute() or ".." in Path(name).parts:  # the folder is the dataset: nothing outside it
            raise DataError(f"{where}: sample {name[:60]!r} points outside {self.root}; expected a file name in the folder")
        try:
            if path.suffix.lower() in SUFFIXES and path.is_file():
                return path
            found = [path.with_name(path.name + s) for s in SUFFIXES if path.with_name(path.name + s).is_file()]
        except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
            raise DataError(f"{where}: sample {name[:60]!r} is not a usable file name ({type(exc).__name__})") from None
        if len(found) != 1:
            raise DataError(f"{where}: sample {name!r} should be one file {name}{{{','.join(SUFFIXES)}}} in {self.root}; "
                            f"found {len(found)}")
        return found[0]

    def load(self, index: int) -> dict:
        info = self.infos[index]
        array = read_keypoints(info.path, self.layout.joints)
        if self.channels is not None:
            if array.shape[3] < self.channels:
                raise DataError(f"{info.path}: {array.shape[3]} values per joint, the recipe reads {self.channels}")
            array = array[..., : self.channels]
        rng = self.rng(index) if self.split == "train" else None
        persons = fit_persons_and_frames(array, self.max_bodies, self.num_frames, rng)
        return {"skeleton": persons, "label": info.label,
                "meta": {"id": info.id, "source": info.path, "layout": self.layout_name}}
