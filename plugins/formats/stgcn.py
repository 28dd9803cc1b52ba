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

from fusion.errors import DataError
from fusion_plugins.formats.common import (
    FormatDataset,
    SampleInfo,
    check_choice,
    check_finite,
    infer_num_classes,
    layout_for_joints,
    require_file,
)
from fusion_plugins.formats.safe_pickle import load_pickle

#: Split word → the file part name st-gcn uses.
FILE_PART = {"train": "train", "test": "val", "val": "val"}


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None


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
        if self.data.ndim != 5 or self.data.shape[1] not in (2, 3):
            raise DataError(f"{self.data_path}: expected an array (N, C=2|3, T, V, M), got shape {self.data.shape}")
        labels_obj = load_pickle(label_file)
        if not isinstance(labels_obj, (tuple, list)) or len(labels_obj) != 2:
            raise DataError(f"{label_file}: expected (sample_names, labels), got {type(labels_obj).__name__}")
        names, labels = list(labels_obj[0]), np.asarray(labels_obj[1], dtype=np.int64).reshape(-1)
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
        row = np.asarray(self.data[info.extra["row"]], dtype=np.float32)  # (C, T, V, M)
        skeleton = check_finite(np.ascontiguousarray(row.transpose(3, 1, 2, 0)), f"{self.data_path} [row "
                                f"{info.extra['row']}]", "skeleton")
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
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                x, y = npz[f"x_{part}"], npz[f"y_{part}"]
        except KeyError as exc:
            raise DataError(f"{self.path}: missing array {exc.args[0]!r} (expected x_train, y_train, x_test, "
                            f"y_test)") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: not a readable .npz ({exc})") from None
        width = persons * num_joints * channels
        if x.ndim != 3 or x.shape[2] != width:
            raise DataError(f"{self.path}: x_{part} should be (N, T, {persons}*{num_joints}*{channels} = {width}), "
                            f"got {x.shape} (wrong joint count?)")
        labels = y.argmax(1) if y.ndim == 2 else y.astype(np.int64)
        if len(labels) != len(x):
            raise DataError(f"{self.path}: {len(labels)} labels for {len(x)} samples in x_{part}")
        self.x = x.reshape(len(x), x.shape[1], persons, num_joints, channels)
        classes = y.shape[1] if y.ndim == 2 else int(labels.max(initial=-1)) + 1
        self.layout = layout or layout_for_joints(num_joints)
        infos = [SampleInfo(f"{part}_{k}", int(lab), str(self.path), self.provides, {"row": k})
                 for k, lab in enumerate(labels)]
        super().__init__(infos, classes, seed=seed)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        skeleton = np.ascontiguousarray(self.x[info.extra["row"]].transpose(1, 0, 2, 3), dtype=np.float32)
        check_finite(skeleton, f"{self.path} [{info.id}]", "skeleton")
        return {"skeleton": skeleton, "label": info.label,
                "meta": {"id": info.id, "dataset": self.path.stem, "layout": self.layout}}
