"""The action classes: what each one does with the body and which object, if any, it holds.

Why these classes: they make SynthAct a fair test of fusion. Motion-only classes are separated by
the skeleton; object pairs share one motion program (so the clean skeletons of a pair are *equal*)
and differ only in the held object, seen by RGB (colour, shape) and depth / point cloud (shape);
a time-reversed pair (sit down / stand up) needs temporal order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fusion_plugins.synthact.body import Motion, Subjects, rest_motion, standing_hip_height


@dataclass(frozen=True)
class ObjectSpec:
    """A held object: ``shape`` is "capsule" (vertical, rounded), "sphere" or "box" (flat faces).

    ``size`` is the radius (capsule, sphere) or half side (box) in metres; ``length`` the capsule's
    axis length; ``hands`` "right" (in the right palm) or "both" (between the hands).
    """

    shape: str
    size: float
    colour: tuple[float, float, float]
    hands: str
    length: float = 0.0


OBJECTS: dict[str, ObjectSpec] = {
    "cup": ObjectSpec("capsule", 0.065, (0.15, 0.35, 0.90), "right", length=0.14),
    "apple": ObjectSpec("sphere", 0.085, (0.85, 0.12, 0.10), "right"),
    "box": ObjectSpec("box", 0.17, (0.80, 0.60, 0.25), "both"),
    "ball": ObjectSpec("sphere", 0.19, (0.20, 0.75, 0.30), "both"),
}


@dataclass(frozen=True)
class ActionClass:
    name: str
    motion: str  # key of PROGRAMS; classes sharing a motion have identical clean skeletons
    obj: str | None = None  # key of OBJECTS
    reverse: bool = False  # play the motion backwards in time


#: The class catalogue; ``classes=K`` keeps the first K, so the pairs always come first.
CATALOGUE: tuple[ActionClass, ...] = (
    ActionClass("drink water", "hand_to_mouth", obj="cup"),
    ActionClass("eat apple", "hand_to_mouth", obj="apple"),
    ActionClass("sit down", "sit"),
    ActionClass("stand up", "sit", reverse=True),
    ActionClass("lift a box", "lift", obj="box"),
    ActionClass("lift a ball", "lift", obj="ball"),
    ActionClass("wave", "wave"),
    ActionClass("clap", "clap"),
    ActionClass("kick", "kick"),
    ActionClass("squat", "squat"),
    ActionClass("jump", "jump"),
    ActionClass("raise both arms", "raise_arms"),
    ActionClass("punch", "punch"),
    ActionClass("bow", "bow"),
)
MAX_CLASSES = len(CATALOGUE)


@dataclass(frozen=True)
class Draws:
    """Per-performance randomness (arrays (N, 1) to broadcast over frames)."""

    tempo: np.ndarray
    amp: np.ndarray
    onset: np.ndarray
    phase: np.ndarray


def draw(body: Subjects, rngs: list[np.random.Generator]) -> Draws:
    """Tempo and amplitude from the subject (±10% per performance), onset and phase at random."""
    u = np.array([rng.uniform(0, 1, 4) for rng in rngs]).reshape(-1, 4)
    return Draws(
        tempo=(body.tempo * (0.9 + 0.2 * u[:, 0]))[:, None],
        amp=(body.amplitude * (0.9 + 0.2 * u[:, 1]))[:, None],
        onset=(0.02 + 0.16 * u[:, 2])[:, None],
        phase=(2 * np.pi * u[:, 3])[:, None],
    )


# ------------------------------------------------------------------------------------------------
# Time envelopes, all (N, T) in [0, 1]


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def ramp(t: np.ndarray, d: Draws, duration: float) -> np.ndarray:
    """0 before the onset, rising smoothly to 1 over ``duration``/tempo of the clip."""
    return _smooth((t - d.onset) * d.tempo / duration)


def bump(t: np.ndarray, d: Draws, duration: float, hold: float) -> np.ndarray:
    """Up, hold for ``hold`` of the movement, down: one go-and-return movement."""
    p = np.clip((t - d.onset) * d.tempo / duration, 0.0, 1.0)
    rise = (1 - hold) / 2
    return _smooth(p / rise) * _smooth((1 - p) / rise)


def cycle(t: np.ndarray, d: Draws, freq: float) -> np.ndarray:
    """Repetitions from the onset: 0 → 1 → 0 with ``freq`` cycles per clip at tempo 1."""
    phase = 2 * np.pi * freq * d.tempo * np.maximum(t - d.onset, 0.0)
    return 0.5 - 0.5 * np.cos(phase)


def _vec(x, y, z) -> np.ndarray:
    return np.stack(np.broadcast_arrays(x, y, z), -1)


def _lerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a + (b - a) * w[..., None]


def _pole(side: float, y: float, z: float) -> np.ndarray:
    return np.array([side, y, z], dtype=float)


# ------------------------------------------------------------------------------------------------
# Motion programs: each overrides parts of the resting Motion, in place


def _reach(body: Subjects) -> np.ndarray:
    return (body.seg["upper_arm"] + body.seg["forearm"])[:, None]


def _leg(body: Subjects) -> np.ndarray:
    return (body.seg["thigh"] + body.seg["shin"])[:, None]


def wave(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r = _reach(body)
    swing = np.sin(2 * np.pi * 2.5 * d.tempo * t + d.phase)
    up = _vec(-0.35 * r + 0.2 * r * d.amp * swing, 0.55 * r, 0.2 * r)
    m.hand_r = _lerp(m.hand_r, up, ramp(t, d, 0.2))
    m.elbow_pole_r[:] = _pole(-1.0, -1.0, 0.0)


def clap(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r, sh = _reach(body), body.seg["shoulder"][:, None]
    gap = 0.03 + 0.22 * d.amp * (1 - cycle(t, d, 3.0))  # hands meet at the midline
    env = ramp(t, d, 0.15)
    for side, name in ((1.0, "l"), (-1.0, "r")):
        target = _vec(side * (gap - sh), -0.2 * r, 0.62 * r)
        setattr(m, f"hand_{name}", _lerp(getattr(m, f"hand_{name}"), target, env))
        getattr(m, f"elbow_pole_{name}")[:] = _pole(side, -1.0, 0.0)


def kick(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r, leg = _reach(body), _leg(body)
    b = bump(t, d, 0.55, hold=0.1) * np.minimum(d.amp, 1.1)
    m.foot_r = m.foot_r + _vec(0.0, 0.45 * leg * b, 0.6 * leg * b)
    m.torso_pitch = -0.15 * b
    m.hand_l = m.hand_l + _vec(0.15 * r * b, 0.0, 0.0)
    m.hand_r = m.hand_r + _vec(-0.15 * r * b, 0.0, 0.0)


def squat(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r, leg = _reach(body), _leg(body)
    b = bump(t, d, 0.65, hold=0.25)
    depth = np.minimum(0.42 * d.amp, 0.5)
    m.pelvis = _vec(0.0, -depth * leg * b, -0.15 * leg * b)
    m.torso_pitch = 0.45 * b
    for side, name in ((1.0, "l"), (-1.0, "r")):
        setattr(m, f"hand_{name}", _lerp(getattr(m, f"hand_{name}"), _vec(side * 0.05 * r, -0.05 * r, 0.95 * r), b))


def jump(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r, leg = _reach(body), _leg(body)
    wave_ = np.sin(2 * np.pi * 1.6 * d.tempo * np.maximum(t - d.onset, 0.0))
    air, crouch = np.maximum(wave_, 0.0), np.maximum(-wave_, 0.0)
    lift = 0.28 * leg * d.amp * air
    m.pelvis = _vec(0.0, lift - 0.16 * leg * crouch, 0.0)
    m.foot_l = m.foot_l + _vec(0.0, lift, 0.0)
    m.foot_r = m.foot_r + _vec(0.0, lift, 0.0)
    m.torso_pitch = 0.25 * crouch
    for side, name in ((1.0, "l"), (-1.0, "r")):
        hand = getattr(m, f"hand_{name}")
        hand = _lerp(hand, _vec(side * 0.1 * r, -0.8 * r, -0.45 * r), crouch)
        setattr(m, f"hand_{name}", _lerp(hand, _vec(side * 0.1 * r, 0.3 * r, 0.6 * r), air))


def raise_arms(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r = _reach(body)
    b = bump(t, d, 0.7, hold=0.35)
    for side, name in ((1.0, "l"), (-1.0, "r")):
        up = _vec(side * 0.2 * r, np.minimum(0.97, 0.8 * d.amp + 0.2) * r, 0.15 * r)
        setattr(m, f"hand_{name}", _lerp(getattr(m, f"hand_{name}"), up, b))
        getattr(m, f"elbow_pole_{name}")[:] = _pole(side, 0.0, -1.0)


def punch(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    r = _reach(body)
    env = ramp(t, d, 0.12)
    pulse = np.maximum(np.sin(2 * np.pi * 2.0 * d.tempo * np.maximum(t - d.onset - 0.1, 0.0)), 0.0) ** 2
    guard_l, guard_r = _vec(-0.15 * r, 0.0, 0.35 * r), _vec(0.15 * r, 0.0, 0.35 * r)
    hit = _vec(0.2 * r, 0.05 * r, np.minimum(0.98, 0.35 + 0.6 * d.amp) * r)
    m.hand_l = _lerp(m.hand_l, guard_l, env)
    m.hand_r = _lerp(_lerp(m.hand_r, guard_r, env), hit, pulse * env)
    m.elbow_pole_l[:] = _pole(1.0, -1.0, 0.0)
    m.elbow_pole_r[:] = _pole(-1.0, -1.0, 0.0)


def bow(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    b = bump(t, d, 0.6, hold=0.3)
    m.torso_pitch = np.minimum(0.85 * d.amp, 1.0) * b
    m.pelvis = _vec(0.0, 0.0, -0.1 * _leg(body) * b)
    m.head_pitch = 0.2 * b


def hand_to_mouth(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    """Right hand from a holding position at the waist to the mouth, once or twice (drink / eat)."""
    r, sh = _reach(body), body.seg["shoulder"][:, None]
    mouth_y = (body.seg["neck"] + 0.6 * body.seg["head"] + 0.02 * body.height)[:, None]
    hold = _vec(0.1 * r, -0.62 * r, 0.45 * r)
    mouth = _vec(0.85 * sh, mouth_y - 0.04, 0.16 + 0 * r)
    to_mouth = cycle(t, d, 1.3)
    m.hand_r = _lerp(_lerp(m.hand_r, hold, ramp(t, d, 0.1)), mouth, to_mouth)
    m.head_pitch = -0.25 * to_mouth
    m.elbow_pole_r[:] = _pole(-1.0, -0.6, 0.0)


def lift(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    """Both hands hold something 38 cm wide in front and lift it from the waist to the chest."""
    r, sh, leg = _reach(body), body.seg["shoulder"][:, None], _leg(body)
    up = cycle(t, d, 1.0) * np.minimum(d.amp, 1.0)
    env = ramp(t, d, 0.1)
    m.pelvis = _vec(0.0, -0.12 * leg * (1 - up) * env, 0.0)
    m.torso_pitch = 0.2 * (1 - up) * env
    for side, name in ((1.0, "l"), (-1.0, "r")):
        low, high = _vec(side * (0.19 - sh), -0.72 * r, 0.38 * r), _vec(side * (0.19 - sh), -0.2 * r, 0.5 * r)
        setattr(m, f"hand_{name}", _lerp(getattr(m, f"hand_{name}"), _lerp(low, high, up), env))
        getattr(m, f"elbow_pole_{name}")[:] = _pole(side, -1.0, -0.5)


def sit(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    """Sit down on an (invisible) chair; played backwards it is 'stand up'."""
    r, leg = _reach(body), _leg(body)
    p = ramp(t, d, 0.6)
    seat = 0.27 * body.height - standing_hip_height(body)
    m.pelvis = _vec(0.0, seat[:, None] * p, -0.3 * leg * p)
    m.torso_pitch = 0.55 * np.sin(np.pi * p) + 0.05 * p
    for side, name in ((1.0, "l"), (-1.0, "r")):
        setattr(m, f"hand_{name}", _lerp(getattr(m, f"hand_{name}"), _vec(side * 0.02 * r, -0.7 * r, 0.45 * r), p))


def idle(m: Motion, body: Subjects, d: Draws, t: np.ndarray) -> None:
    """Standing with a slight sway: the optional second person."""
    m.pelvis = _vec(0.03 * np.sin(2 * np.pi * 0.7 * t + d.phase), 0.0, 0.0)
    m.head_pitch = 0.1 * np.sin(2 * np.pi * 0.5 * t + d.phase)


Program = Callable[[Motion, Subjects, Draws, np.ndarray], None]
#: Motion programs by name; the order gives each a stable index used in random-stream keys.
PROGRAMS: dict[str, Program] = {
    "hand_to_mouth": hand_to_mouth,
    "sit": sit,
    "lift": lift,
    "wave": wave,
    "clap": clap,
    "kick": kick,
    "squat": squat,
    "jump": jump,
    "raise_arms": raise_arms,
    "punch": punch,
    "bow": bow,
    "idle": idle,
}
MOTION_INDEX = {name: i for i, name in enumerate(PROGRAMS)}


def perform(motion: str, body: Subjects, draws: Draws, frames: int) -> Motion:
    """The motion targets of ``body`` (N performances) doing ``motion`` over ``frames`` frames."""
    m = rest_motion(body, frames)
    PROGRAMS[motion](m, body, draws, np.linspace(0.0, 1.0, frames)[None, :])
    return m
