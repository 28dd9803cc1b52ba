"""Which tracked bodies of a ``.skeleton`` file become the sample's persons, and the dense array.

Kinect tracks up to six bodies, often including furniture or a passer-by for a few frames; the
benchmarks keep two persons. Two rules, both keyed by the integer body ID:

- ``energy`` (default; MMAction2 ``read_xyz``): a body's energy is the sum over x, y, z of the
  standard deviation of its joints over the frames where it is non-zero. All-zero bodies are
  dropped and the ``max_bodies`` most energetic are kept, most energetic first.
- ``denoise`` (PySKL ``ntu_preproc.py``): with several bodies, drop tracks of at most 11 frames,
  drop bodies whose frames are mostly "spread noise" (x extent > 0.8 * y extent in 69.754% of them
  or more; the others' motion is re-measured on the good frames), sort by motion (summed variance),
  then pack tracks that do not overlap in time into the same person slot, as PySKL does when a
  person is re-acquired under a new ID. Unlike PySKL the frame index is not compacted over
  0-body frames and leading/trailing empty frames are kept, so the array stays frame-aligned with
  the RGB video and depth frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion_plugins.formats.ntu import COLOR_XY, STATE, XYZ, BodyTrack

MIN_TRACK_LENGTH = 11
SPREAD_RATIO = 0.8
NOISY_FRAME_RATIO = 0.69754

#: A person slot: the tracks (non-overlapping in time) that fill it.
Slot = list[BodyTrack]


def energy(track: BodyTrack) -> float:
    """Sum over axes of the std of the body's xyz over its non-zero frames (0 for an all-zero body)."""
    xyz = track.joints[:, :, XYZ]
    valid = np.abs(xyz).sum(axis=(1, 2)) > 0
    if not valid.any():
        return 0.0
    xyz = xyz[valid]
    return float(sum(xyz[..., axis].std() for axis in range(3)))


def select_by_energy(tracks: Sequence[BodyTrack], max_bodies: int) -> list[Slot]:
    """The ``max_bodies`` most energetic non-zero tracks, one per slot, most energetic first."""
    scored = [(energy(t), k, t) for k, t in enumerate(tracks) if np.abs(t.joints[:, :, XYZ]).sum() > 0]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [[t] for _, _, t in scored[:max_bodies]]


def _motion(xyz: np.ndarray) -> float:
    return float(np.var(xyz.reshape(-1, 3), axis=0).sum())


def _spread_filter(tracks: list[BodyTrack]) -> list[tuple[float, BodyTrack]]:
    """Drop mostly-noisy bodies; re-measure the motion of the others on their good frames only."""
    kept = []
    for track in tracks:
        xyz = track.joints[:, :, XYZ]
        x_extent = xyz[..., 0].max(axis=1) - xyz[..., 0].min(axis=1)
        y_extent = xyz[..., 1].max(axis=1) - xyz[..., 1].min(axis=1)
        good = x_extent <= SPREAD_RATIO * y_extent
        motion = _motion(xyz)
        if good.all():
            kept.append((motion, track))
        elif 1.0 - good.mean() < NOISY_FRAME_RATIO:
            kept.append((min(motion, _motion(xyz[good])), track))
    return kept


def select_denoised(tracks: Sequence[BodyTrack], max_bodies: int) -> list[Slot]:
    """PySKL's denoising: length and spread filters, motion order, non-overlapping tracks share a slot."""
    ranked = sorted(tracks, key=lambda t: -_motion(t.joints[:, :, XYZ]))
    if len(ranked) <= 1:
        return [[t] for t in ranked]
    long_enough = [t for t in ranked if len(t.frames) > MIN_TRACK_LENGTH]
    if len(long_enough) <= 1:
        return [[(long_enough or ranked)[0]]]
    scored = _spread_filter(long_enough) or [(0.0, long_enough[0])]
    scored.sort(key=lambda item: -item[0])
    slots: list[Slot] = []
    spans: list[tuple[int, int]] = []
    for _, track in scored:
        start, end = int(track.frames[0]), int(track.frames[-1]) + 1
        for k, (s, e) in enumerate(spans):
            if max(s, start) >= min(e, end):  # no overlap: the same person re-acquired
                slots[k].append(track)
                spans[k] = (min(s, start), max(e, end))
                break
        else:
            if len(slots) < max_bodies:
                slots.append([track])
                spans.append((start, end))
    return slots


def select_bodies(tracks: Sequence[BodyTrack], max_bodies: int, denoise: bool = False) -> list[Slot]:
    return select_denoised(tracks, max_bodies) if denoise else select_by_energy(tracks, max_bodies)


def dense(slots: Sequence[Slot], num_frames: int, max_bodies: int, columns: slice) -> np.ndarray:
    """(max_bodies, T, V, C) float32 from the slots' joint rows ``columns``; absent persons/frames are 0."""
    num_joints = next((t.joints.shape[1] for slot in slots for t in slot), 25)
    width = len(range(*columns.indices(12)))
    out = np.zeros((max_bodies, num_frames, num_joints, width), dtype=np.float32)
    for m, slot in enumerate(slots[:max_bodies]):
        for track in slot:
            out[m, track.frames] = track.joints[:, :, columns]
    return out


def skeleton_xyz(slots: Sequence[Slot], num_frames: int, max_bodies: int) -> np.ndarray:
    """Camera-space joints (M, T, V, 3) in metres."""
    return dense(slots, num_frames, max_bodies, XYZ)


def pose2d_color(slots: Sequence[Slot], num_frames: int, max_bodies: int) -> np.ndarray:
    """(M, T, V, 3): colour-frame pixels (1920x1080) and a score from the tracking state (2→1, 1→0.5, 0→0)."""
    xy = dense(slots, num_frames, max_bodies, COLOR_XY)
    state = dense(slots, num_frames, max_bodies, slice(STATE, STATE + 1))
    return np.concatenate([xy, state / 2.0], axis=-1).astype(np.float32)
