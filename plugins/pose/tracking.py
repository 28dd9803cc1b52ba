"""Person tracking across frames and the choice of the M most active persons (NTU / PySKL convention).

Each frame's detections are matched to live tracks greedily by the distance between their joint
centres, relative to the person's size (a detection farther than ``max_jump`` person heights from
every track starts a new one). Tracks persist across calls, so a stream keeps its identities.
Output slots are the ``max_persons`` tracks with the highest summed score over the call's frames,
ordered by when they were first seen (so slot 0 stays the same person from window to window).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fusion.errors import FusionError
from fusion_plugins.pose.convert import convert, joint_names
from fusion_plugins.skeleton.modality import bones_or_empty


def _centre_and_size(person: np.ndarray) -> tuple[np.ndarray, float]:
    seen = person[:, 2] > 0
    xy = person[seen, :2] if seen.any() else person[:, :2]
    size = float(max(np.ptp(xy[:, 1]), np.ptp(xy[:, 0]), 1.0))
    return xy.mean(axis=0), size


class Tracker:
    def __init__(self, max_jump: float = 0.5, forget_after: int = 30):
        self.max_jump, self.forget_after = max_jump, forget_after
        self.tracks: dict[int, dict] = {}  # id → {"centre", "size", "missed"}
        self.next_id = 0

    def reset(self) -> None:
        self.tracks, self.next_id = {}, 0

    def assign(self, people: list[np.ndarray]) -> list[int]:
        """Track ids for one frame's detections (each ``(V, 3)``)."""
        found = [_centre_and_size(p) for p in people]
        pairs = sorted(
            (float(np.linalg.norm(c - t["centre"])) / max(s, t["size"]), d, tid)
            for d, (c, s) in enumerate(found) for tid, t in self.tracks.items()
        )
        ids: list[int | None] = [None] * len(people)
        used: set[int] = set()
        for cost, d, tid in pairs:
            if cost > self.max_jump or ids[d] is not None or tid in used:
                continue
            ids[d] = tid
            used.add(tid)
        for d in range(len(people)):
            if ids[d] is None:
                ids[d] = self.next_id
                self.next_id += 1
        for tid in list(self.tracks):
            if tid not in used:
                self.tracks[tid]["missed"] += 1
                if self.tracks[tid]["missed"] > self.forget_after:
                    del self.tracks[tid]
        for d, tid in enumerate(ids):
            self.tracks[tid] = {"centre": found[d][0], "size": found[d][1], "missed": 0}
        return [int(i) for i in ids]

    def track(self, frames: list[list[np.ndarray]], max_persons: int, joints: int) -> np.ndarray:
        """Per-frame detection lists → ``(max_persons, T, V, 3)``, zeros where a slot's person is not seen."""
        per_id: dict[int, np.ndarray] = {}
        for t, people in enumerate(frames):
            for tid, person in zip(self.assign(people), people):
                per_id.setdefault(tid, np.zeros((len(frames), joints, 3), np.float32))[t] = person
        active = sorted(per_id, key=lambda tid: -float(per_id[tid][..., 2].sum()))[:max_persons]
        out = np.zeros((max_persons, len(frames), joints, 3), np.float32)
        for slot, tid in enumerate(sorted(active)):
            out[slot] = per_id[tid]
        return out


def estimate_video(frames: np.ndarray, detect: Callable[[np.ndarray], list[np.ndarray]], tracker: Tracker,
                   max_persons: int, native_layout: str, layout: str) -> tuple[np.ndarray, dict]:
    """What every pose estimator returns for ``frames`` (T, H, W, 3) uint8: ``detect(frame)`` (the persons of
    one frame in ``native_layout``) on each frame, persons tracked, joints converted to ``layout``;
    ``(pose2d (M, T, V, 3), {"layout", "bones"})``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise FusionError(f"pose estimator: expected frames (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    native = tracker.track([detect(frame) for frame in frames], max_persons, len(joint_names(native_layout)))
    return convert(native, native_layout, layout), {"layout": layout, "bones": bones_or_empty(layout)}
