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

from fusion.errors import DataError
from fusion_plugins.formats.common import FormatDataset, SampleInfo, check_finite, layout_for_joints, require_file
from fusion_plugins.formats.safe_pickle import load_pickle
from fusion_plugins.formats.splits import split_key

#: Problems listed in one error before "and N more".
SHOWN_PROBLEMS = 5


def _entry_id(entry: dict, position: int) -> str:
    return str(entry.get("frame_dir", entry.get("filename", f"#{position}")))


def _entry_problems(entry, position: int, num_classes: int | None) -> list[str]:
    """What is wrong with one annotation entry (empty when it is usable)."""
    where = f"annotation {position}"
    if not isinstance(entry, dict):
        return [f"{where} is a {type(entry).__name__}, expected a dict"]
    where = f"annotation {position} ({_entry_id(entry, position)!r})"
    problems = [f"{where} has no {key!r} key" for key in ("label", "keypoint") if key not in entry]
    if "frame_dir" not in entry and "filename" not in entry:
        problems.append(f"{where} has no 'frame_dir' (or 'filename') key")
    if "raw_file" in entry and "keypoint" not in entry:
        problems.append(f"{where} refers to a keypoint file (raw_file); that Kinetics-style variant is not supported")
    if problems:
        return problems
    label, keypoint = entry["label"], entry["keypoint"]
    if not isinstance(label, (int, np.integer)) or label < 0 or (num_classes is not None and label >= num_classes):
        allowed = f"0..{num_classes - 1}" if num_classes is not None else "an integer >= 0"
        problems.append(f"{where} has label {label!r}, expected {allowed}")
    if not isinstance(keypoint, np.ndarray) or keypoint.ndim != 4 or keypoint.shape[-1] not in (2, 3):
        shape = getattr(keypoint, "shape", type(keypoint).__name__)
        problems.append(f"{where}: 'keypoint' should be an array (M, T, V, 2 or 3), got {shape}")
        return problems
    if keypoint.shape[-1] == 2:
        score = entry.get("keypoint_score")
        if score is None:
            problems.append(f"{where}: 2D 'keypoint' needs a 'keypoint_score' (M, T, V) key")
        elif getattr(score, "shape", None) != keypoint.shape[:3]:
            problems.append(f"{where}: 'keypoint_score' shape {getattr(score, 'shape', None)} does not match "
                            f"'keypoint' {keypoint.shape}")
    total = entry.get("total_frames")
    if total is not None and int(total) != keypoint.shape[1]:
        problems.append(f"{where}: 'total_frames' is {total} but 'keypoint' has {keypoint.shape[1]} frames")
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
        data = load_pickle(self.path)
        if isinstance(data, list):
            data = {"annotations": data}
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            kind = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DataError(f"{self.path}: expected a dict with an 'annotations' list (and a 'split' table), got {kind}")
        annotations = data["annotations"]
        problems = [p for k, e in enumerate(annotations) for p in _entry_problems(e, k, num_classes)]
        if problems:
            more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
            raise DataError(f"{self.path}: {len(problems)} problem(s): {'; '.join(problems[:SHOWN_PROBLEMS])}{more}")
        splits = data.get("split")
        if splits is not None and not isinstance(splits, dict):
            raise DataError(f"{self.path}: 'split' should map split names to lists of frame_dir, "
                            f"got {type(splits).__name__}")
        key = split_key(split, protocol, (splits or {}).keys(), str(self.path)) if split != "all" else None
        if key is None:
            chosen = range(len(annotations))
        else:
            by_id = {_entry_id(e, k): k for k, e in enumerate(annotations)}
            unknown = [i for i in splits[key] if str(i) not in by_id]
            if unknown:
                raise DataError(f"{self.path}: split {key!r} lists {len(unknown)} sample(s) without an annotation, "
                                f"e.g. {unknown[0]!r}")
            chosen = [by_id[str(i)] for i in splits[key]]
        self.annotations = annotations
        self.layout = layout
        labels = [int(e["label"]) for e in annotations]
        infos = [SampleInfo(_entry_id(annotations[k], k), labels[k], str(self.path), self.provides, {"position": k})
                 for k in chosen]
        classes = num_classes if num_classes is not None else max(labels, default=-1) + 1
        super().__init__(infos, classes, seed=seed)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        entry = self.annotations[info.extra["position"]]
        where = f"{self.path} [{info.id}]"
        keypoint = np.asarray(entry["keypoint"], dtype=np.float32)
        if keypoint.shape[-1] == 2:
            score = np.asarray(entry["keypoint_score"], dtype=np.float32)[..., None]
            keypoint = np.concatenate([keypoint, score], axis=-1)
        check_finite(keypoint, where, "keypoint")
        meta = {"id": info.id, "dataset": Path(self.path).stem, "layout": self.layout or layout_for_joints(keypoint.shape[2])}
        for key in ("img_shape", "original_shape", "total_frames"):
            if key in entry:
                meta[key] = entry[key]
        sample = {"skeleton": keypoint, "label": info.label, "meta": meta}
        if entry["keypoint"].shape[-1] == 2:
            sample["pose2d"] = keypoint
        return sample
