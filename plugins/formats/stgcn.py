"""Pre-packed skeleton arrays: st-gcn's ``.npy`` + label pickle, and CTR-GCN's ``.npz``.

- st-gcn (``tools/ntu_gendata.py``): ``{xsub,xview}/{train,val}_data.npy`` of shape
  (N, C, T, V, M), zero padded to T = 300 frames, and ``{train,val}_label.pkl`` holding
  ``(sample_names, labels)``. The array is memory-mapped; the pickle is read without running code.
- CTR-GCN (``data/ntu/NTU60_CS.npz``): ``x_train`` / ``x_test`` of shape (N, T, M * V * C) and
  ``y_train`` / ``y_test`` as one-hot (N, K) or integer (N,) labels.

Both yield ``skeleton`` (M, T, V, C) float32 with the zero padding kept (skeleton transforms such
as ``skeleton.valid_crop_resize`` find the valid frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusion.data.limits import check_classes, check_elements, max_sample_bytes
from fusion.errors import DataError
from fusion_plugins.formats.common import (
    FormatDataset,
    SampleInfo,
    check_choice,
    check_count,
    check_finite,
    infer_num_classes,
    label_array,
    layout_for_joints,
    require_file,
    short,
)
from fusion_plugins.formats.safe_pickle import load_pickle

#: Split word → the file part name st-gcn uses.
FILE_PART = {"train": "train", "test": "val", "val": "val"}


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # a corrupt header raises ValueError, SyntaxError, tokenize.TokenError...
        raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__}: {str(exc)[:200]})") from None


def npz_arrays(path: Path, names: tuple[str, ...]) -> list[np.ndarray]:
    """The named arrays of ``.npz`` ``path``, each header checked before its data is read.

    An ``.npz`` is a zip: a 1 MB file can hold a deflated gigabyte, and numpy allocates the shape an
    array header declares before reading. Both are compared with the member's sizes first.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for name in names:
                info = members.get(f"{name}.npy")
                if info is None:
                    raise DataError(f"{path}: missing array {name!r} (it holds {', '.join(sorted(members)) or 'none'})")
                if info.file_size > max(max_sample_bytes(), 16 * info.compress_size):
                    raise DataError(f"{path}: array {name!r} inflates {info.compress_size} bytes to {info.file_size}, "
                                    f"more than 16 times (a zip bomb?)")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(member)
                if dtype.hasobject:
                    raise DataError(f"{path}: array {name!r} holds Python objects ({dtype}); expected numbers")
                if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                    raise DataError(f"{path}: array {name!r} declares shape {shape} of {dtype}, more than the "
                                    f"{info.file_size} bytes it holds")
        with np.load(path, allow_pickle=False) as npz:
            return [npz[name] for name in names]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, NotImplementedError) as exc:
        raise DataError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None


def _check_labels(labels: np.ndarray, num_classes: int, source: str) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(f"{source}: label {int(labels[bad[0]])} of sample {int(bad[0])} is outside 0..{num_classes - 1} "
                        f"({bad.size} such label(s))")


class StgcnArrays(FormatDataset):
    """st-gcn packed arrays: ``data_path`` (N, C, T, V, M) ``.npy`` and ``label_path`` pickle.

    ``{split}`` in either path is replaced by ``train`` or ``val`` (for test/val splits), so one
    recipe serves both splits, e.g. ``data/ntu60/xsub/{split}_data.npy``.
    """

    provides = ("skeleton",)

    def __init__(self, split: str = "train", data_path: str | None = None, label_path: str | None = None,
                 num_classes: int | None = None, layout: str | None = None, seed: int = 0):
        check_choice("split", split, tuple(FILE_PART))
        part = FILE_PART[split]
        self.data_path = require_file(data_path and data_path.format(split=part), "data_path")
        label_file = require_file(label_path and label_path.format(split=part), "label_path")
        self._data = self.data  # opened here to check the shape; reopened lazily in loader workers
        shape = self.data.shape
        if self.data.ndim != 5 or shape[1] not in (2, 3) or 0 in shape[2:] or self.data.dtype.kind not in "fiu":
            raise DataError(f"{self.data_path}: expected an array (N, C=2|3, T, V, M), got shape {shape} of "
                            f"{self.data.dtype} (numbers, with T, V, M >= 1)")
        check_elements(int(np.prod(shape[1:], dtype=object)), 8, self.data_path, f"one sample of shape {shape[1:]}")
        labels_obj = load_pickle(label_file)
        if not isinstance(labels_obj, (tuple, list)) or len(labels_obj) != 2:
            raise DataError(f"{label_file}: expected (sample_names, labels), got {type(labels_obj).__name__}")
        names, labels = labels_obj[0], label_array(labels_obj[1], str(label_file))
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and Path(n).stem for n in names):
            raise DataError(f"{label_file}: sample names should be a list of non-empty strings, got {short(names)}")
        if not len(names) == len(labels) == self.data.shape[0]:
            raise DataError(f"{label_file}: {len(names)} names and {len(labels)} labels for {self.data.shape[0]} "
                            f"samples in {self.data_path}")
        classes = infer_num_classes(labels.tolist(), num_classes, str(label_file))
        _check_labels(labels, classes, str(label_file))
        self.layout = layout or layout_for_joints(self.data.shape[3])
        infos = [SampleInfo(Path(str(n)).stem, int(y), str(self.data_path), self.provides, {"row": k})
                 for k, (n, y) in enumerate(zip(names, labels))]
        super().__init__(infos, classes, seed=seed)

    @property
    def data(self) -> np.ndarray:
        """The memory-mapped (N, C, T, V, M) array, opened on first use in each process."""
        if getattr(self, "_data", None) is None:
            self._data = _load_npy(self.data_path)
        return self._data

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}  # a memmap would be pickled as a full in-memory copy

    def load(self, index: int) -> dict:
        info = self.infos[index]
        where = f"{self.data_path} [row {info.extra['row']}, {info.id}]"
        try:
            row = np.asarray(self.data[info.extra["row"]], dtype=np.float32)  # (C, T, V, M)
        except (OSError, ValueError) as exc:  # the file changed or shrank since the index was built
            raise DataError(f"{where}: cannot read the row ({exc})") from None
        skeleton = check_finite(np.ascontiguousarray(row.transpose(3, 1, 2, 0)), where, "skeleton")
        if not skeleton.any():
            raise DataError(f"{where}: the sample is all zeros (no person in any frame)")
        return {"skeleton": skeleton, "label": info.label,
                "meta": {"id": info.id, "dataset": self.data_path.stem, "layout": self.layout}}


class CtrgcnNpz(FormatDataset):
    """CTR-GCN's ``.npz``: ``x_{train,test}`` (N, T, M*V*C) and ``y_{train,test}`` (one-hot or integer)."""

    provides = ("skeleton",)

    def __init__(self, split: str = "train", path: str | None = None, num_joints: int = 25, persons: int = 2,
                 channels: int = 3, layout: str | None = None, seed: int = 0):
        check_choice("split", split, tuple(FILE_PART))
        part = "train" if split == "train" else "test"
        self.path = require_file(path, "path")
        num_joints, persons, channels = (check_count(k, v) for k, v in (
            ("num_joints", num_joints), ("persons", persons), ("channels", channels)))
        x, y = npz_arrays(self.path, (f"x_{part}", f"y_{part}"))
        width = persons * num_joints * channels
        if x.ndim != 3 or x.shape[2] != width or x.shape[1] == 0 or x.dtype.kind not in "fiu":
            raise DataError(f"{self.path}: x_{part} should be (N, T, {persons}*{num_joints}*{channels} = {width}), "
                            f"got {x.shape} of {x.dtype} (wrong joint count? numbers and T >= 1 expected)")
        labels = self._labels(y, f"{self.path}: y_{part}")
        if len(labels) != len(x):
            raise DataError(f"{self.path}: {len(labels)} labels for {len(x)} samples in x_{part}")
        self.x = x.reshape(len(x), x.shape[1], persons, num_joints, channels)
        classes = y.shape[1] if y.ndim == 2 else int(labels.max(initial=-1)) + 1
        check_classes(classes, f"{self.path}: y_{part}")
        self.layout = layout or layout_for_joints(num_joints)
        infos = [SampleInfo(f"{part}_{k}", int(lab), str(self.path), self.provides, {"row": k})
                 for k, lab in enumerate(labels)]
        super().__init__(infos, classes, seed=seed)

    @staticmethod
    def _labels(y: np.ndarray, where: str) -> np.ndarray:
        """Integer labels from one-hot rows (exactly one 1, zeros elsewhere) or an integer vector."""
        if y.ndim == 2 and y.dtype.kind in "fiu":
            hot = y == 1
            bad = np.flatnonzero((hot.sum(1) != 1) | ((y != 0) & ~hot).any(1))
            if bad.size:
                raise DataError(f"{where}: row {int(bad[0])} is not one-hot (exactly one 1, zeros elsewhere): "
                                f"{short(y[bad[0]].tolist())} ({bad.size} such row(s))")
            return hot.argmax(1)
        return label_array(y, where)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        skeleton = np.ascontiguousarray(self.x[info.extra["row"]].transpose(1, 0, 2, 3), dtype=np.float32)
        check_finite(skeleton, f"{self.path} [{info.id}]", "skeleton")
        if not skeleton.any():
            raise DataError(f"{self.path} [{info.id}]: the sample is all zeros (no person in any frame)")
        return {"skeleton": skeleton, "label": info.label,
                "meta": {"id": info.id, "dataset": self.path.stem, "layout": self.layout}}
