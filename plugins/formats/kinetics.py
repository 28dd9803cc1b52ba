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

from fusion.data.limits import check_elements, max_sample_bytes
from fusion.errors import DataError
from fusion_plugins.formats.common import (
    DataProblems,
    FormatDataset,
    SampleInfo,
    check_choice,
    check_count,
    check_finite,
    check_label_value,
    infer_num_classes,
    is_integer,
    numeric_array,
    read_json,
    require_dir,
    require_file,
    short,
)

OPENPOSE_JOINTS = 18
FILE_PART = {"train": "train", "test": "val", "val": "val"}


def kinetics_array(video: dict, path: Path, num_person_in: int, num_person_out: int, max_frames: int) -> np.ndarray:
    """(num_person_out, T, 18, 3) float32 x, y (normalised), score from one video's JSON.

    Every value is checked: a frame without ``frame_index``/``skeleton``, a person that is not
    ``{"pose": 36 numbers, "score": 18 numbers}``, a non-integer frame index and a video with no
    person in any frame are DataErrors naming the file and the frame.
    """
    frames = video.get("data") if isinstance(video, dict) else None
    if not isinstance(frames, list):
        raise DataError(f"{path}: expected a JSON object with a 'data' list of frames")
    check_elements(num_person_in * max_frames * OPENPOSE_JOINTS * 3 * 2, 4, path,
                   f"{max_frames} frames x {num_person_in} persons")
    out = np.zeros((num_person_in, max_frames, OPENPOSE_JOINTS, 3), dtype=np.float32)
    for k, frame in enumerate(frames):
        if not isinstance(frame, dict) or "frame_index" not in frame or "skeleton" not in frame:
            raise DataError(f"{path}: frame entry {k} needs 'frame_index' and 'skeleton'")
        t, people = frame["frame_index"], frame["skeleton"]
        if not is_integer(t):
            raise DataError(f"{path}: frame entry {k} has frame_index {short(t)}, expected an integer")
        if not isinstance(people, list):
            raise DataError(f"{path}: frame_index {t}: 'skeleton' should be a list of persons, got "
                            f"{type(people).__name__}")
        if t < 0:  # st-gcn's feeder would index from the end: a corrupt index, not a frame
            raise DataError(f"{path}: frame entry {k} has frame_index {t}, expected 0 or more")
        if t >= max_frames:
            continue
        for m, person in enumerate(people[:num_person_in]):
            where = f"frame_index {t}, person {m}"
            if not isinstance(person, dict):
                raise DataError(f"{path}: {where}: expected {{'pose': [...], 'score': [...]}}, got {short(person)}")
            pose = numeric_array(person.get("pose", []), path, f"{where} 'pose'", 1)
            score = numeric_array(person.get("score", []), path, f"{where} 'score'", 1)
            if pose.shape != (2 * OPENPOSE_JOINTS,) or score.shape != (OPENPOSE_JOINTS,):
                raise DataError(f"{path}: {where}: expected 36 pose values and 18 scores "
                                f"({OPENPOSE_JOINTS} joints), got {pose.size} and {score.size}")
            out[m, t, :, :2] = pose.reshape(OPENPOSE_JOINTS, 2)
            out[m, t, :, 2] = score
    check_finite(out, path, "keypoints")
    if not out.any():  # st-gcn would train on zeros; a video marked has_skeleton must have someone in it
        raise DataError(f"{path}: no person in any of its {len(frames)} frame entries (within max_frames {max_frames})")
    order = np.argsort(-out[..., 2].sum(axis=2), axis=0, kind="stable")  # (M_in, T): persons by score per frame
    out = np.take_along_axis(out, order[:, :, None, None], axis=0)
    return out[:num_person_out]


class KineticsSkeleton(FormatDataset):
    """Kinetics-skeleton from st-gcn's JSON release (see the module docstring)."""

    provides = ("skeleton", "pose2d")

    def __init__(self, split: str = "train", root: str | None = None, num_person_in: int = 5,
                 num_person_out: int = 2, max_frames: int = 300, num_classes: int | None = 400, seed: int = 0):
        check_choice("split", split, tuple(FILE_PART))
        part = FILE_PART[split]
        root_dir = require_dir(root, "root")
        self.folder = require_dir(root_dir / f"kinetics_{part}", "root")
        labels = read_json(require_file(root_dir / f"kinetics_{part}_label.json", "root"), max_sample_bytes())
        if not isinstance(labels, dict):
            raise DataError(f"{root_dir / f'kinetics_{part}_label.json'}: expected a mapping video_id -> label info")
        num_person_in, num_person_out, max_frames = (check_count(k, v) for k, v in (
            ("num_person_in", num_person_in), ("num_person_out", num_person_out), ("max_frames", max_frames)))
        num_classes = check_count("num_classes", num_classes, optional=True)
        label_file = root_dir / f"kinetics_{part}_label.json"
        infos, problems = [], []
        for video_id in sorted(labels):
            entry = labels[video_id]
            where = f"{label_file}: entry {short(video_id)}"
            if not isinstance(entry, dict) or "label_index" not in entry:
                problems.append((video_id, f"{where} has no 'label_index'"))
                continue
            try:
                label = check_label_value(entry["label_index"], where, num_classes)
            except DataError as exc:
                problems.append((video_id, str(exc)))
                continue
            if not isinstance(entry.get("has_skeleton", True), bool):
                problems.append((video_id, f"{where}: 'has_skeleton' is {short(entry['has_skeleton'])}, "
                                           f"expected true or false"))
            elif entry.get("has_skeleton", True):
                if "/" in video_id or "\\" in video_id or video_id in ("", ".", ".."):
                    problems.append((video_id, f"{where}: video id is not a file name"))
                    continue
                infos.append(SampleInfo(video_id, label, str(self.folder / f"{video_id}.json"), self.provides))
        if problems:
            raise DataProblems(str(label_file), problems)
        classes = infer_num_classes([i.label for i in infos], num_classes, str(label_file))
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
