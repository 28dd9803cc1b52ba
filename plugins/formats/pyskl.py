"""PySKL / MMAction2 skeleton annotation pickles (``ntu60_3danno.pkl``, ``ntu60_hrnet.pkl``, ...).

The file holds ``{"split": {name: [frame_dir, ...]}, "annotations": [entry, ...]}`` where each
entry has ``frame_dir`` (or ``filename``), a 0-based ``label``, ``keypoint`` (M, T, V, C) (float16
in the 3D files) and, for 2D files (C = 2), ``keypoint_score`` (M, T, V). The file is loaded with a
restricted unpickler (no code runs). Its structure, every entry's keys and every label are checked
when the dataset is built, and all problems are reported at once; NaN/inf values are found when a
sample is read (``fusion data check`` reads them all).

Samples: 3D files give ``skeleton`` (M, T, V, 3) in the file's units; 2D files give x, y, score as
(M, T, V, 3) pixels, under both ``pose2d`` and ``skeleton`` (the recipe's modalities pick one).
The Kinetics-400 variant with ``raw_file`` keypoint files is not supported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusion.data.limits import MAX_CLASSES, check_elements
from fusion.errors import DataError
from fusion_plugins.formats.class_names import ntu_names
from fusion_plugins.formats.common import (
    DataProblems,
    FormatDataset,
    SampleInfo,
    check_count,
    check_finite,
    is_integer,
    layout_for_joints,
    require_file,
    short,
)
from fusion_plugins.formats.safe_pickle import load_pickle
from fusion_plugins.formats.splits import split_key


def _entry_id(entry: dict, position: int) -> str:
    name = entry.get("frame_dir", entry.get("filename"))
    return str(name) if isinstance(name, (str, int, np.integer)) and not isinstance(name, bool) else f"#{position}"


def _numeric(array) -> bool:
    """A numpy array of numbers (not object, bool, string or structured)."""
    return isinstance(array, np.ndarray) and array.dtype.kind in "fiu"


def _entry_problems(entry, position: int, num_classes: int | None) -> list[str]:
    """What is wrong with one annotation entry (empty when it is usable)."""
    where = f"annotation {position}"
    if not isinstance(entry, dict):
        return [f"{where} is a {type(entry).__name__}, expected a dict"]
    where = f"annotation {position} ({_entry_id(entry, position)!r})"
    problems = [f"{where} has no {key!r} key" for key in ("label", "keypoint") if key not in entry]
    if "frame_dir" not in entry and "filename" not in entry:
        problems.append(f"{where} has no 'frame_dir' (or 'filename') key")
    elif not isinstance(entry.get("frame_dir", entry.get("filename")), str) or not entry.get("frame_dir",
                                                                                             entry.get("filename")):
        name = entry.get("frame_dir", entry.get("filename"))
        problems.append(f"{where}: 'frame_dir' is {short(name)} ({type(name).__name__}), expected the sample's name")
    if "raw_file" in entry and "keypoint" not in entry:
        problems.append(f"{where} refers to a keypoint file (raw_file); that Kinetics-style variant is not supported")
    if problems:
        return problems
    label, keypoint = entry["label"], entry["keypoint"]
    allowed = f"0..{num_classes - 1}" if num_classes is not None else f"an integer in 0..{MAX_CLASSES - 1}"
    if not is_integer(label):
        problems.append(f"{where} has label {short(label)} of type {type(label).__name__}, expected an integer {allowed}")
    elif label < 0 or label >= (num_classes if num_classes is not None else MAX_CLASSES):
        problems.append(f"{where} has label {int(label)}, expected {allowed}")
    if not _numeric(keypoint) or keypoint.ndim != 4 or keypoint.shape[-1] not in (2, 3):
        shape = getattr(keypoint, "shape", type(keypoint).__name__)
        dtype = f" of dtype {keypoint.dtype}" if isinstance(keypoint, np.ndarray) else ""
        problems.append(f"{where}: 'keypoint' should be a numeric array (M, T, V, 2 or 3), got {short(shape)}{dtype}")
        return problems
    if 0 in keypoint.shape:
        problems.append(f"{where}: 'keypoint' {keypoint.shape} is empty (no person, frame or joint)")
    if keypoint.shape[-1] == 2:
        score = entry.get("keypoint_score")
        if score is None:
            problems.append(f"{where}: 2D 'keypoint' needs a 'keypoint_score' (M, T, V) key")
        elif not _numeric(score) or score.shape != keypoint.shape[:3]:
            problems.append(f"{where}: 'keypoint_score' {short(getattr(score, 'shape', type(score).__name__))} "
                            f"{getattr(score, 'dtype', '')} should be a numeric array of shape {keypoint.shape[:3]}")
    total = entry.get("total_frames")
    if total is not None and (not is_integer(total) or int(total) != keypoint.shape[1]):
        problems.append(f"{where}: 'total_frames' is {short(total)} but 'keypoint' has {keypoint.shape[1]} frames")
    return problems


class PoseAnnotations(FormatDataset):
    """One split of a PySKL / MMAction2 annotation pickle.

    Args:
        split: a key of the file's split table (``xsub_train``), or ``train`` / ``test`` / ``val``
            combined with ``protocol`` (``test`` finds ``<protocol>_val`` or ``<protocol>_test``), or ``all``.
        path: the ``.pkl`` file.
        protocol: split prefix used with ``train``/``test`` (``xsub``, ``xview``, ``xset``, ``train1``...).
        num_classes: number of classes; default ``max(label) + 1`` over the whole file. Labels must
            lie in ``0..num_classes-1``.
        layout: skeleton layout name for ``meta``; default from the joint count (25 → ntu25, 17 → coco17).
    """

    provides = ("skeleton", "pose2d")

    def __init__(self, split: str = "train", path: str | None = None, protocol: str | None = None,
                 num_classes: int | None = None, layout: str | None = None, seed: int = 0):
        self.path = require_file(path, "path")
        num_classes = check_count("num_classes", num_classes, optional=True)
        data = load_pickle(self.path)
        if isinstance(data, list):
            data = {"annotations": data}
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            kind = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DataError(f"{self.path}: expected a dict with an 'annotations' list (and a 'split' table), got {kind}")
        annotations = data["annotations"]
        problems = [(_entry_id(e, k) if isinstance(e, dict) else f"#{k}", p)
                    for k, e in enumerate(annotations) for p in _entry_problems(e, k, num_classes)]
        first: dict[str, int] = {}
        for k, entry in enumerate(annotations):  # a split names samples by id: two entries of one id are ambiguous
            name = _entry_id(entry, k) if isinstance(entry, dict) else f"#{k}"
            if first.setdefault(name, k) != k:
                problems.append((name, f"annotations {first[name]} and {k} share the id {name!r}"))
        if problems:
            raise DataProblems(str(self.path), problems)
        splits = data.get("split")
        if splits is not None and not (isinstance(splits, dict) and all(
                isinstance(k, str) and isinstance(v, (list, tuple)) for k, v in splits.items())):
            raise DataError(f"{self.path}: 'split' should map split names to lists of frame_dir, "
                            f"got {short(splits)}")
        key = split_key(split, protocol, (splits or {}).keys(), str(self.path)) if split != "all" else None
        if key is None:
            chosen = range(len(annotations))
        else:
            by_id = {_entry_id(e, k): k for k, e in enumerate(annotations)}
            unknown = [i for i in splits[key] if not isinstance(i, (str, int)) or str(i) not in by_id]
            if unknown:
                raise DataError(f"{self.path}: split {key!r} lists {len(unknown)} sample(s) without an annotation, "
                                f"e.g. {short(unknown[0])}")
            chosen = [by_id[str(i)] for i in splits[key]]
        self.annotations = annotations
        self.layout = layout
        labels = [int(e["label"]) for e in annotations]
        infos = [SampleInfo(_entry_id(annotations[k], k), labels[k], str(self.path), self.provides, {"position": k})
                 for k in chosen]
        classes = num_classes if num_classes is not None else max(labels, default=-1) + 1
        names = ntu_names(classes) if self.path.name.lower().startswith("ntu") else None  # ntu60_hrnet.pkl...
        super().__init__(infos, classes, names, seed=seed)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        entry = self.annotations[info.extra["position"]]
        where = f"{self.path} [{info.id}]"
        check_elements(entry["keypoint"].size * 3, 4, where, f"'keypoint' {entry['keypoint'].shape}")
        keypoint = np.asarray(entry["keypoint"], dtype=np.float32)
        if keypoint.shape[-1] == 2:
            score = np.asarray(entry["keypoint_score"], dtype=np.float32)[..., None]
            keypoint = np.concatenate([keypoint, score], axis=-1)
        check_finite(keypoint, where, "keypoint")
        if not keypoint.any():
            raise DataError(f"{where}: 'keypoint' {entry['keypoint'].shape} is all zeros (no person in any frame)")
        meta = {"id": info.id, "dataset": Path(self.path).stem, "layout": self.layout or layout_for_joints(keypoint.shape[2])}
        for key in ("img_shape", "original_shape", "total_frames"):
            if key in entry:
                meta[key] = entry[key]
        sample = {"skeleton": keypoint, "label": info.label, "meta": meta}
        if entry["keypoint"].shape[-1] == 2:
            sample["pose2d"] = keypoint
        return sample
