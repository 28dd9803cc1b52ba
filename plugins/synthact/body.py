"""The synthetic body: NTU-25 joint layout, per-subject proportions and vectorised kinematics.

Why inverse kinematics: every action is naturally described by where the hands and feet go
(hand to mouth, foot forward, pelvis down); a two-bone IK turns those targets into elbows and knees
for every subject's own limb lengths, for all samples and frames at once.

Body frame: y up, the person faces +z, their left is +x, the floor is y = 0, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: NTU RGB+D (Kinect v2) joint order, 0-based.
JOINTS: tuple[str, ...] = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "LShoulder", "LElbow", "LWrist", "LHand",
    "RShoulder", "RElbow", "RWrist", "RHand",
    "LHip", "LKnee", "LAnkle", "LFoot",
    "RHip", "RKnee", "RAnkle", "RFoot",
    "SpineShoulder", "LHandTip", "LThumb", "RHandTip", "RThumb",
)  # fmt: skip
J = {name: i for i, name in enumerate(JOINTS)}
#: Parent of each joint (NTU MATLAB ``connecting_joint``, 0-based); the centre joint is SpineShoulder.
PARENTS: tuple[int, ...] = (1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11)
#: The 24 bones as (child, parent), the same pairs as PySKL's 'nturgb+d' layout.
BONES: tuple[tuple[int, int], ...] = tuple((j, p) for j, p in enumerate(PARENTS) if j != J["SpineShoulder"])
CENTER = J["SpineShoulder"]
LAYOUT = "ntu25"
_PER_SUBJECT = ("height", "girth", "tempo", "amplitude", "shirt", "pants", "skin", "shoes")


@dataclass(frozen=True)
class Subjects:
    """One entry per subject (arrays of shape (S,)); lengths in metres, colours RGB in [0, 1]."""

    height: np.ndarray
    seg: dict[str, np.ndarray]  # segment lengths by name (see SEGMENT_RATIOS)
    girth: np.ndarray  # multiplies every capsule radius
    tempo: np.ndarray  # 0.8-1.25: how fast the subject performs
    amplitude: np.ndarray  # 0.8-1.2: how large the movements are
    shirt: np.ndarray  # (S, 3)
    pants: np.ndarray  # (S, 3)
    skin: np.ndarray  # (S, 3)
    shoes: np.ndarray  # (S, 3)

    def concat(self, other: Subjects) -> Subjects:
        """These subjects followed by ``other``'s."""
        return Subjects(
            seg={k: np.concatenate([v, other.seg[k]]) for k, v in self.seg.items()},
            **{k: np.concatenate([getattr(self, k), getattr(other, k)]) for k in _PER_SUBJECT},
        )

    def take(self, index: np.ndarray) -> Subjects:
        """The subjects at ``index`` (one row per sample or performance)."""
        return Subjects(
            seg={k: v[index] for k, v in self.seg.items()},
            **{k: getattr(self, k)[index] for k in _PER_SUBJECT},
        )


#: Segment lengths as fractions of body height (Drillis & Contini style anthropometry).
SEGMENT_RATIOS: dict[str, float] = {
    "ankle": 0.039,  # floor to ankle joint
    "shin": 0.246,
    "thigh": 0.245,
    "spine": 0.288,  # SpineBase to SpineShoulder
    "neck": 0.045,
    "head": 0.075,  # Neck to Head (head centre)
    "shoulder": 0.115,  # half shoulder width
    "hip": 0.055,  # half hip width
    "upper_arm": 0.186,
    "forearm": 0.146,
    "hand": 0.100,  # wrist to hand tip
    "foot": 0.080,  # ankle to foot joint
}
SKIN_LIGHT, SKIN_DARK = np.array([0.96, 0.80, 0.69]), np.array([0.36, 0.22, 0.14])


def sample_subjects(count: int, rng: np.random.Generator) -> Subjects:
    """Draw ``count`` subjects: height 1.50-1.95 m, each segment ratio jittered by up to 7%."""
    height = rng.uniform(1.50, 1.95, count)
    seg = {k: height * r * rng.uniform(0.93, 1.07, count) for k, r in SEGMENT_RATIOS.items()}
    hue = rng.uniform(0, 1, (count, 2))
    return Subjects(
        height=height,
        seg=seg,
        girth=rng.uniform(0.85, 1.2, count),
        tempo=rng.uniform(0.8, 1.25, count),
        amplitude=rng.uniform(0.8, 1.2, count),
        shirt=_hsv_to_rgb(hue[:, 0], rng.uniform(0.3, 0.9, count), rng.uniform(0.35, 0.95, count)),
        pants=_hsv_to_rgb(hue[:, 1], rng.uniform(0.1, 0.6, count), rng.uniform(0.15, 0.6, count)),
        skin=SKIN_LIGHT + rng.uniform(0, 1, (count, 1)) * (SKIN_DARK - SKIN_LIGHT),
        shoes=rng.uniform(0.05, 0.3, (count, 1)) * np.ones(3),
    )


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV→RGB (arrays of shape (S,) → (S, 3))."""
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6.0) % 6.0
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def standing_hip_height(body: Subjects) -> np.ndarray:
    """Pelvis (SpineBase) height when standing with straight legs, per row of ``body``."""
    return body.seg["ankle"] + 0.99 * (body.seg["thigh"] + body.seg["shin"]) + 0.02 * body.height


@dataclass
class Motion:
    """Per-frame pose targets for N performances (arrays (N, T) or (N, T, 3), body frame, metres/radians).

    Hand targets are relative to their shoulder, foot targets are absolute; poles say where the
    elbow / knee points.
    """

    pelvis: np.ndarray  # (N, T, 3) offset from the standing pelvis
    torso_pitch: np.ndarray  # (N, T) forward bend about the pelvis
    head_pitch: np.ndarray  # (N, T) nod forward (>0) / tilt back (<0)
    hand_l: np.ndarray  # (N, T, 3) left hand (wrist) target minus left shoulder
    hand_r: np.ndarray
    foot_l: np.ndarray  # (N, T, 3) ankle targets
    foot_r: np.ndarray
    elbow_pole_l: np.ndarray  # (N, T, 3)
    elbow_pole_r: np.ndarray
    knee_pole: np.ndarray  # (N, T, 3) for both knees


def rest_motion(body: Subjects, frames: int) -> Motion:
    """Standing still, arms hanging: every action program starts from this and overrides parts."""
    n = body.height.shape[0]
    reach = body.seg["upper_arm"] + body.seg["forearm"]

    def const(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(x[:, None, :], (n, frames, 3)).copy()

    def hang(side: float) -> np.ndarray:
        return const(np.stack([side * 0.08 * reach, -0.96 * reach, 0.06 * reach], -1))

    def foot(side: float) -> np.ndarray:
        return const(np.stack([side * body.seg["hip"] * 1.1, body.seg["ankle"], np.zeros(n)], -1))

    return Motion(
        pelvis=np.zeros((n, frames, 3)),
        torso_pitch=np.zeros((n, frames)),
        head_pitch=np.zeros((n, frames)),
        hand_l=hang(1.0),
        hand_r=hang(-1.0),
        foot_l=foot(1.0),
        foot_r=foot(-1.0),
        elbow_pole_l=const(np.tile([0.3, 0.0, -1.0], (n, 1))),
        elbow_pole_r=const(np.tile([-0.3, 0.0, -1.0], (n, 1))),
        knee_pole=const(np.tile([0.0, 0.0, 1.0], (n, 1))),
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_bone_ik(root, target, upper, lower, pole) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joints of a two-bone chain reaching for ``target`` (end clamped to reach).

    ``root``/``target``/``pole`` are (..., 3); ``upper``/``lower`` broadcast against (...,).
    """
    upper, lower = upper[..., None], lower[..., None]
    d = target - root
    dist = np.clip(np.linalg.norm(d, axis=-1, keepdims=True), np.abs(upper - lower) + 1e-4, 0.999 * (upper + lower))
    u = _unit(d)
    a = (upper**2 - lower**2 + dist**2) / (2 * dist)
    h = np.sqrt(np.maximum(upper**2 - a**2, 0.0))
    w = _unit(pole - np.sum(pole * u, -1, keepdims=True) * u)
    return root + a * u + h * w, root + dist * u


def _pitch(angle: np.ndarray) -> np.ndarray:
    """Unit vector 'up' bent forward by ``angle`` about the x axis: (0, cos, sin)."""
    return np.stack([np.zeros_like(angle), np.cos(angle), np.sin(angle)], -1)


def forward_kinematics(body: Subjects, motion: Motion) -> np.ndarray:
    """Joint positions (N, T, 25, 3) in the body frame, from subject proportions and motion targets."""
    s = {k: v[:, None] for k, v in body.seg.items()}  # (N, 1) to broadcast over frames
    n, t = motion.torso_pitch.shape
    out = np.zeros((n, t, len(JOINTS), 3))
    x = np.array([1.0, 0.0, 0.0])
    up = _pitch(motion.torso_pitch)
    pelvis = motion.pelvis + np.stack([0 * s["hip"], standing_hip_height(body)[:, None] + 0 * s["hip"], 0 * s["hip"]], -1)
    out[:, :, J["SpineBase"]] = pelvis
    out[:, :, J["SpineMid"]] = pelvis + 0.5 * s["spine"][..., None] * up
    chest = pelvis + s["spine"][..., None] * up
    out[:, :, J["SpineShoulder"]] = chest
    neck = chest + s["neck"][..., None] * _pitch(motion.torso_pitch + 0.5 * motion.head_pitch)
    out[:, :, J["Neck"]] = neck
    out[:, :, J["Head"]] = neck + s["head"][..., None] * _pitch(motion.torso_pitch + motion.head_pitch)
    drop = 0.02 * body.height[:, None, None] * up
    for side, prefix, hand, pole in ((1.0, "L", motion.hand_l, motion.elbow_pole_l), (-1.0, "R", motion.hand_r, motion.elbow_pole_r)):
        shoulder = chest + side * s["shoulder"][..., None] * x - drop
        elbow, wrist = two_bone_ik(shoulder, shoulder + hand, s["upper_arm"], s["forearm"], pole)
        along = _unit(wrist - elbow)
        inward_fwd = _unit(np.array([-side, 0.0, 1.0]) - np.sum(np.array([-side, 0.0, 1.0]) * along, -1, keepdims=True) * along)
        hand_len = s["hand"][..., None]
        out[:, :, J[prefix + "Shoulder"]] = shoulder
        out[:, :, J[prefix + "Elbow"]] = elbow
        out[:, :, J[prefix + "Wrist"]] = wrist
        out[:, :, J[prefix + "Hand"]] = wrist + 0.45 * hand_len * along
        out[:, :, J[prefix + "HandTip"]] = wrist + hand_len * along
        out[:, :, J[prefix + "Thumb"]] = wrist + 0.5 * hand_len * along + 0.35 * hand_len * inward_fwd
    for side, prefix, foot in ((1.0, "L", motion.foot_l), (-1.0, "R", motion.foot_r)):
        hip = pelvis + side * s["hip"][..., None] * x - np.array([0.0, 1.0, 0.0]) * 0.02 * body.height[:, None, None]
        knee, ankle = two_bone_ik(hip, foot, s["thigh"], s["shin"], motion.knee_pole)
        out[:, :, J[prefix + "Hip"]] = hip
        out[:, :, J[prefix + "Knee"]] = knee
        out[:, :, J[prefix + "Ankle"]] = ankle
        out[:, :, J[prefix + "Foot"]] = ankle + s["foot"][..., None] * np.array([0.0, -0.35, 0.94])
    return out
