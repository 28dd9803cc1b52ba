"""The 3D scene of every sample: clean and sensed joints, the held object, who is who.

This is the skeleton-only path (about a second for the default set) and the input of the
renderer. Randomness comes in named streams keyed by what they belong to, so that a performance is
the same for the three cameras, a pair of classes shares it, and each sample's sensor noise is its own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from fusion_plugins.synthact.actions import MOTION_INDEX, OBJECTS, draw, perform
from fusion_plugins.synthact.body import J, Subjects, forward_kinematics, sample_subjects
from fusion_plugins.synthact.cameras import make_cameras
from fusion_plugins.synthact.config import SynthActConfig
from fusion_plugins.synthact.nuisances import detector_pose2d, kinect_skeleton
from fusion_plugins.synthact.samples import SampleIndex

# Random stream ids: generator key = [seed, stream, ...what the draw belongs to]
SUBJECTS, PERFORMANCE, SECOND_PERSON, OBJECT, SKELETON_NOISE, POSE2D_NOISE, RGB_NOISE, DEPTH_NOISE, POINTS = range(9)


def stream(cfg: SynthActConfig, kind: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, kind, *(int(k) for k in key)])


def sample_stream(cfg: SynthActConfig, kind: int, index: SampleIndex, i: int) -> np.random.Generator:
    """The generator of sample ``i`` for noise ``kind``."""
    return stream(cfg, kind, index.camera[i], index.subject[i], index.repetition[i], index.label[i])


def subjects_of(cfg: SynthActConfig) -> Subjects:
    """The protocol's subjects, then the validation subjects (drawn from a stream of their own, so
    adding validation subjects leaves every other sample unchanged)."""
    protocol = sample_subjects(cfg.subjects, stream(cfg, SUBJECTS))
    if not cfg.val_subjects:
        return protocol
    return protocol.concat(sample_subjects(cfg.val_subjects, stream(cfg, SUBJECTS, 1)))


@dataclass
class Scene:
    """Per-sample arrays (first axis S); joints in each sample's camera frame, metres."""

    skeleton_gt: np.ndarray  # (S, M, T, V, 3) float32 clean joints
    skeleton: np.ndarray  # (S, M, T, V, 3) float32 as a Kinect senses them
    tracking: np.ndarray  # (S, M, T, V) uint8 Kinect tracking state (0 = frame dropped)
    pose2d: np.ndarray  # (S, M, T, V, 3) float32 x, y pixels + score
    body_subject: np.ndarray  # (S, M) int 1-based subject of each body (colours, girth)
    obj_centre: np.ndarray  # (S, T, 3) float32 held object centre; zeros without object
    obj_scale: np.ndarray  # (S,) float32 size multiplier of the object
    obj_colour: np.ndarray  # (S, 3) float32 RGB in [0, 1]

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _yaw(angle: np.ndarray) -> np.ndarray:
    """(N,) angles → (N, 3, 3) rotations about the vertical axis."""
    c, s, z, o = np.cos(angle), np.sin(angle), np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _world_performances(cfg: SynthActConfig, subjects: Subjects, perf: np.ndarray, second: bool) -> np.ndarray:
    """World joints (P, T, V, 3) for performances ``perf`` = rows of (subject, repetition, motion).

    The main actor stands within 25 cm of the spot, turned by up to 15 degrees; the second person
    idles 0.9-1.3 m to one side and 0.5-1 m further back.
    """
    out = np.zeros((len(perf), cfg.frames, len(J), 3))
    kind = SECOND_PERSON if second else PERFORMANCE
    for motion in np.unique(perf[:, 2]):
        rows = np.flatnonzero(perf[:, 2] == motion)
        rngs = [stream(cfg, kind, *perf[r]) for r in rows]
        who = perf[rows, 0] - 1
        if second:
            who = (who + 1) % cfg.subjects  # the next subject plays the bystander
        body = subjects.take(who)
        name = "idle" if second else list(MOTION_INDEX)[motion]
        joints = forward_kinematics(body, perform(name, body, draw(body, rngs), cfg.frames))
        place = np.array([rng.uniform(0, 1, 3) for rng in rngs])
        yaw = np.deg2rad(30 * place[:, 0] - 15)
        if second:
            side = np.where(place[:, 2] < 0.5, -1.0, 1.0)
            offset = np.stack([side * (0.9 + 0.4 * place[:, 1]), 0 * side, -0.5 - 0.5 * place[:, 2]], -1)
        else:
            offset = np.stack([0.5 * place[:, 1] - 0.25, 0 * yaw, 0.5 * place[:, 2] - 0.25], -1)
        out[rows] = np.einsum("nij,ntvj->ntvi", _yaw(yaw), joints) + offset[:, None, None, :]
    return out


def _object_centres(cam: np.ndarray, index: SampleIndex, scale: np.ndarray) -> np.ndarray:
    """Held object centre (S, T, 3) from camera-frame joints (S, T, V, 3): in the right palm or between the hands."""
    out = np.zeros(cam.shape[:2] + (3,))
    for label, action in enumerate(index.classes):
        if action.obj is None:
            continue
        rows = index.label == label
        spec = OBJECTS[action.obj]
        j = cam[rows]
        if spec.hands == "both":
            out[rows] = 0.5 * (j[:, :, J["LHand"]] + j[:, :, J["RHand"]])
        else:
            palm = j[:, :, J["RThumb"]] - j[:, :, J["RHand"]]
            palm /= np.maximum(np.linalg.norm(palm, axis=-1, keepdims=True), 1e-9)
            out[rows] = j[:, :, J["RHand"]] + palm * (spec.size * scale[rows, None, None] + 0.01)
    return out


def build_scene(cfg: SynthActConfig, index: SampleIndex) -> Scene:
    """Clean joints of every sample, then each sample's Kinect and 2D-detector view of them."""
    subjects = subjects_of(cfg)
    cameras = make_cameras(cfg.size)
    motion = index.motion()
    perf_keys = np.stack([index.subject, index.repetition, motion], -1)
    perf, perf_of_sample = np.unique(perf_keys, axis=0, return_inverse=True)
    perf_of_sample = perf_of_sample.reshape(-1)
    reverse = np.array([c.reverse for c in index.classes])[index.label]
    bodies = [_world_performances(cfg, subjects, perf, second=False)]
    if cfg.second_person:
        bodies.append(_world_performances(cfg, subjects, perf, second=True))
    world = np.stack([b[perf_of_sample] for b in bodies], 1)  # (S, M, T, V, 3)
    world[reverse] = world[reverse][:, :, ::-1]
    rot = np.stack([cameras[c].rotation for c in index.camera])
    centre = np.stack([cameras[c].centre for c in index.camera])
    gt = np.einsum("sij,smtvj->smtvi", rot, world - centre[:, None, None, None, :])

    obj_rngs = [stream(cfg, OBJECT, s, r, lab) for s, r, lab in zip(index.subject, index.repetition, index.label)]
    jitter = np.array([rng.uniform(-1, 1, 4) for rng in obj_rngs]).reshape(-1, 4)
    obj_scale = 1.0 + 0.1 * jitter[:, 0]
    obj_colour = np.zeros((len(index), 3))
    for label, action in enumerate(index.classes):
        if action.obj is not None:
            obj_colour[index.label == label] = OBJECTS[action.obj].colour
    obj_colour = np.clip(obj_colour + 0.08 * jitter[:, 1:], 0.0, 1.0)

    skeleton, tracking, pose2d = np.empty_like(gt, np.float32), np.empty(gt.shape[:-1], np.uint8), np.empty_like(gt, np.float32)
    for i in range(len(index)):
        skeleton[i], tracking[i] = kinect_skeleton(gt[i], sample_stream(cfg, SKELETON_NOISE, index, i), cfg.nuisance)
        pose2d[i] = detector_pose2d(gt[i], cameras[index.camera[i]].intrinsics(), sample_stream(cfg, POSE2D_NOISE, index, i), cfg.nuisance)
    body_subject = np.stack([index.subject] + ([index.subject % cfg.subjects + 1] if cfg.second_person else []), 1)
    return Scene(
        skeleton_gt=gt.astype(np.float32),
        skeleton=skeleton,
        tracking=tracking,
        pose2d=pose2d,
        body_subject=body_subject,
        obj_centre=_object_centres(gt[:, 0], index, obj_scale).astype(np.float32),
        obj_scale=obj_scale.astype(np.float32),
        obj_colour=obj_colour.astype(np.float32),
    )
