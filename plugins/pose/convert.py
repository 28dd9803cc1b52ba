"""Joint layout conversion by joint name: an estimator's native layout → ``coco17``, ``ntu25``, ``openpose18``...

A target joint is taken from the source joint of the same name, or derived from others (NTU's
spine joints are midpoints of the hips and shoulders; a hand is the wrist where the source has no
hand joints). A derived joint's score is the lowest of its sources'. A target joint that cannot be
made from the source is an error naming it, never a silent zero.
"""

from __future__ import annotations

import numpy as np

from fusion.errors import RecipeError

#: MediaPipe BlazePose's 33 landmarks, in its output order.
MEDIAPIPE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

#: Target joint → source joint sets tried in order (each set is averaged).
_DERIVED: dict[str, tuple[tuple[str, ...], ...]] = {
    "neck": (("left_shoulder", "right_shoulder"),),
    "spine_shoulder": (("left_shoulder", "right_shoulder"),),
    "spine_base": (("left_hip", "right_hip"),),
    "hip_center": (("left_hip", "right_hip"),),
    "spine_mid": (("left_shoulder", "right_shoulder", "left_hip", "right_hip"),),
    "spine": (("left_shoulder", "right_shoulder", "left_hip", "right_hip"),),
    "shoulder_center": (("left_shoulder", "right_shoulder"),),
    "head": (("left_ear", "right_ear"), ("nose",)),
}
for _side in ("left", "right"):
    _DERIVED[f"{_side}_hand"] = ((f"{_side}_pinky", f"{_side}_index"), (f"{_side}_wrist",))
    _DERIVED[f"{_side}_hand_tip"] = ((f"{_side}_index",), (f"{_side}_wrist",))
    _DERIVED[f"{_side}_thumb"] = ((f"{_side}_wrist",),)
    _DERIVED[f"{_side}_foot"] = ((f"{_side}_foot_index",), (f"{_side}_ankle",))


def joint_names(layout: str) -> tuple[str, ...]:
    if layout == "mediapipe33":
        return MEDIAPIPE33
    from fusion_plugins.skeleton.layouts import get_layout

    return tuple(get_layout(layout).joints)


def conversion(source: str, target: str) -> list[tuple[int, ...]]:
    """For each target joint, the source joint indices averaged to make it."""
    names = {name: i for i, name in enumerate(joint_names(source))}
    plan = []
    for joint in joint_names(target):
        if joint in names:
            plan.append((names[joint],))
            continue
        for option in _DERIVED.get(joint, ()):
            if all(n in names for n in option):
                plan.append(tuple(names[n] for n in option))
                break
        else:
            raise RecipeError(f"pose layout {target!r}: joint {joint!r} cannot be made from {source!r} joints")
    return plan


def convert(pose: np.ndarray, source: str, target: str) -> np.ndarray:
    """``(..., V_source, 3)`` x, y, score → ``(..., V_target, 3)``; derived joints score their weakest source."""
    if source == target:
        return pose
    out = []
    for sources in conversion(source, target):
        part = pose[..., list(sources), :]
        xy = part[..., :2].mean(axis=-2)
        score = part[..., 2].min(axis=-1)
        out.append(np.concatenate([xy, score[..., None]], axis=-1))
    return np.stack(out, axis=-2).astype(np.float32)

