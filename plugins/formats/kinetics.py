"""Kinetics-skeleton (st-gcn's OpenPose JSON release).

Layout: ``root/kinetics_{train,val}/<video_id>.json`` and ``root/kinetics_{train,val}_label.json``
= ``{video_id: {"has_skeleton": bool, "label": str, "label_index": int}}``. A video file holds
``{"data": [{"frame_index": int, "skeleton": [{"pose": [x0, y0, x1, y1, ...] (36 values),
"score": [18 values]}, ...]}, ...]}`` with coordinates divided by the frame width and height.

As st-gcn's feeder: up to ``num_person_in`` persons per frame are read, then in every frame the
persons are ordered by their summed joint score and the first ``num_person_out`` kept; frames are
placed at ``frame_index`` up to ``max_frames``; videos without skeletons are left out.
``skeleton`` is (M, T, 18, 3) = (x - 0.5, y - 0.5, score) with joints of score 0 zeroed (the
feeder's input); ``pose2d`` keeps x, y in [0, 1].
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
    read_json,
    require_dir,
    require_file,
)

OPENPOSE_JOINTS = 18
FILE_PART = {"train": "train", "test": "val", "val": "val"}


def kinetics_array(video: dict, path: Path, num_person_in: int, num_person_out: int, max_frames: int) -> np.ndarray:
    """(num_person_out, T, 18, 3) float32 x, y (normalised), score from one video's JSON."""
    frames = video.get("data") if isinstance(video, dict) else None
    if not isinstance(frames, list):
        raise DataError(f"{path}: expected a 'data' list of frames")
    out = np.zeros((num_person_in, max_frames, OPENPOSE_JOINTS, 3), dtype=np.float32)
    for k, frame in enumerate(frames):
        try:
            t, people = int(frame["frame_index"]), frame["skeleton"]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: frame entry {k} needs 'frame_index' and 'skeleton'") from None
        if not 0 <= t < max_frames:
            continue
        for m, person in enumerate(people[:num_person_in]):
            pose, score = np.asarray(person.get("pose", ()), np.float32), np.asarray(person.get("score", ()), np.float32)
            if pose.shape != (2 * OPENPOSE_JOINTS,) or score.shape != (OPENPOSE_JOINTS,):
                raise DataError(f"{path}: frame_index {t}, person {m}: expected 36 pose values and 18 scores "
                                f"({OPENPOSE_JOINTS} joints), got {pose.size} and {score.size}")
            out[m, t, :, :2] = pose.reshape(OPENPOSE_JOINTS, 2)
            out[m, t, :, 2] = score
    order = np.argsort(-out[..., 2].sum(axis=2), axis=0, kind="stable")  # (M_in, T): persons by score per frame
    out = np.take_along_axis(out, order[:, :, None, None], axis=0)
    return check_finite(out[:num_person_out], path, "keypoints")


class KineticsSkeleton(FormatDataset):
    """Kinetics-skeleton from st-gcn's JSON release (see the module docstring)."""

    provides = ("skeleton", "pose2d")

    def __init__(self, split: str = "train", root: str | None = None, num_person_in: int = 5,
                 num_person_out: int = 2, max_frames: int = 300, num_classes: int | None = 400, seed: int = 0):
        check_choice("split", split, tuple(FILE_PART))
        part = FILE_PART[split]
        root_dir = require_dir(root, "root")
        self.folder = require_dir(root_dir / f"kinetics_{part}", "root")
        labels = read_json(require_file(root_dir / f"kinetics_{part}_label.json", "root"))
        if not isinstance(labels, dict):
            raise DataError(f"{root_dir / f'kinetics_{part}_label.json'}: expected a mapping video_id -> label info")
        infos = []
        for video_id in sorted(labels):
            entry = labels[video_id]
            if not isinstance(entry, dict) or "label_index" not in entry:
                raise DataError(f"{root_dir}/kinetics_{part}_label.json: entry {video_id!r} has no 'label_index'")
            if entry.get("has_skeleton", True):
                infos.append(SampleInfo(video_id, int(entry["label_index"]), str(self.folder / f"{video_id}.json"),
                                        self.provides))
        classes = infer_num_classes([i.label for i in infos], num_classes, f"{root_dir}/kinetics_{part}_label.json")
        self.num_person_in, self.num_person_out, self.max_frames = num_person_in, num_person_out, max_frames
        super().__init__(infos, classes, seed=seed)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        path = Path(info.path)
        pose = kinetics_array(read_json(path), path, self.num_person_in, self.num_person_out, self.max_frames)
        centred = pose.copy()
        centred[..., :2] -= 0.5
        centred[centred[..., 2] == 0] = 0.0
        return {"skeleton": centred, "pose2d": pose, "label": info.label,
                "meta": {"id": info.id, "dataset": "kinetics_skeleton", "layout": "openpose18"}}
