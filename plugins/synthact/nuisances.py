"""Sensor nuisances, so that no modality is clean: what a Kinect, a 2D detector, a camera do wrong.

Every function takes its own ``numpy.random.Generator`` (one stream per sample and modality) and a
``level`` multiplying every noise amount (0 = clean), so that generating one modality never
changes another's random numbers.
"""

from __future__ import annotations

import numpy as np

from fusion_plugins.synthact.body import J
from fusion_plugins.synthact.cameras import project

#: Joints a sensor tracks worst: hands, hand tips, thumbs, feet.
EXTREMITIES = np.array([J[n] for n in ("LHand", "RHand", "LHandTip", "LThumb", "RHandTip", "RThumb", "LFoot", "RFoot")])
TRACKED, INFERRED, NOT_TRACKED = 2, 1, 0


def _extremity_weight(joints: int) -> np.ndarray:
    w = np.ones(joints)
    w[EXTREMITIES] = 2.0
    return w


def _random_directions(rng: np.random.Generator, shape: tuple[int, ...], dims: int) -> np.ndarray:
    v = rng.standard_normal(shape + (dims,))
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def kinect_skeleton(gt: np.ndarray, rng: np.random.Generator, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Kinect-like 3D joints from clean ones (M, T, V, 3) metres.

    Jitter of 6 mm (12 mm at hands and feet, 1.5x along depth); a tracking glitch moves a joint by
    10-35 cm for one frame (state 1 = inferred); a dropped frame has no body at all (zeros, state 0),
    which the .skeleton writer writes as a frame with 0 bodies.
    Returns the observed joints (float32) and the tracking state (M, T, V) uint8.
    """
    m, t, v, _ = gt.shape
    sigma = 0.006 * level * _extremity_weight(v)[:, None] * np.array([1.0, 1.0, 1.5])
    obs = gt + rng.standard_normal(gt.shape) * sigma
    glitch = rng.random((m, t, v)) < 0.004 * level
    obs += glitch[..., None] * _random_directions(rng, (m, t, v), 3) * rng.uniform(0.1, 0.35, (m, t, v, 1))
    state = np.where(glitch, INFERRED, TRACKED).astype(np.uint8)
    dropped = rng.random(t) < 0.02 * level
    obs[:, dropped] = 0.0
    state[:, dropped] = NOT_TRACKED
    return obs.astype(np.float32), state


def detector_pose2d(gt: np.ndarray, intrinsics: dict, rng: np.random.Generator, level: float) -> np.ndarray:
    """2D keypoints (M, T, V, 3) = x, y pixels + score, as a 2D pose detector would give them.

    Error scales with the person's image height (1%, 2% at extremities), 1% of keypoints are
    outliers far off, and the score falls with the error (and for points outside the image).
    """
    uv = project(gt, intrinsics)
    m, t, v, _ = uv.shape
    height = np.maximum(uv[..., 1].max(-1) - uv[..., 1].min(-1), 1.0)[..., None, None]  # (M, T, 1, 1)
    err = rng.standard_normal(uv.shape) * 0.01 * level * _extremity_weight(v)[:, None] * height
    outlier = rng.random((m, t, v)) < 0.01 * level
    err += outlier[..., None] * _random_directions(rng, (m, t, v), 2) * rng.uniform(0.15, 0.4, (m, t, v, 1)) * height
    score = np.clip(1.0 - np.linalg.norm(err, axis=-1) / (0.15 * height[..., 0]), 0.05, 1.0) * rng.uniform(0.85, 1.0, (m, t, v))
    xy = uv + err
    inside = (xy[..., 0] >= 0) & (xy[..., 0] < intrinsics["width"]) & (xy[..., 1] >= 0) & (xy[..., 1] < intrinsics["height"])
    score = np.where(inside, score, 0.3 * score)
    return np.concatenate([xy, score[..., None]], -1).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Images. Every draw happens whatever ``level`` is (level only scales amounts), so streams stay aligned.


def _towards(value: np.ndarray | float, neutral: float, level: float):
    """``value`` pulled towards ``neutral`` as level → 0 (level 1 keeps it)."""
    return neutral + (value - neutral) * level


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a (g, g, C) grid to (size, size, C)."""
    g = grid.shape[0]
    x = (np.arange(size) + 0.5) / size * (g - 1)
    i0 = np.clip(np.floor(x).astype(int), 0, g - 2)
    w = (x - i0)[:, None]
    rows = grid[i0] * (1 - w)[:, :, None] + grid[i0 + 1] * w[:, :, None]
    return rows[:, i0] * (1 - w)[None] + rows[:, i0 + 1] * w[None]


def background(rng: np.random.Generator, size: int, level: float, distractor_colours: np.ndarray) -> np.ndarray:
    """A static room (size, size, 3) in [0, 1]: wall and floor colours, smooth and blocky texture,
    and 5 distractor discs, some in the held objects' colours (so colour alone does not give the class).
    """
    wall, floor = rng.uniform(0.25, 0.8, 3), rng.uniform(0.15, 0.6, 3)
    horizon = int(size * rng.uniform(0.55, 0.72))
    room = np.where((np.arange(size) >= horizon)[:, None, None], floor, wall) * np.ones((size, size, 3))
    room = _towards(room, 0.5, level)
    room += level * 0.18 * _upsample(rng.uniform(-1, 1, (6, 6, 3)), size)
    block = max(size // 16, 1)
    room += level * 0.06 * np.kron(rng.uniform(-1, 1, (-(-size // block),) * 2 + (1,)), np.ones((block, block, 1)))[:size, :size]
    centres = rng.uniform(0, size, (5, 2))
    radii = rng.uniform(0.03, 0.08, 5) * size
    picks = rng.integers(0, len(distractor_colours), 5)
    colours = np.where(rng.random((5, 1)) < 0.5, distractor_colours[picks], rng.uniform(0, 1, (5, 3)))
    yy, xx = np.mgrid[:size, :size] + 0.5
    for c, r, col in zip(centres, radii, colours):  # five discs, each vectorised over pixels
        disc = ((xx - c[0]) ** 2 + (yy - c[1]) ** 2 < r * r)[..., None]
        room = np.where(disc & (level > 0), col, room)
    return np.clip(room, 0.0, 1.0)


def lighting(rng: np.random.Generator, frames: int, level: float) -> dict[str, np.ndarray]:
    """Per-sample light: gain 0.6-1.3 with a colour cast, ambient share, direction, flicker, noise sigma."""
    return {
        "gain": _towards(rng.uniform(0.6, 1.3), 1.0, level) * _towards(rng.uniform(0.85, 1.15, 3), 1.0, level),
        "ambient": _towards(rng.uniform(0.3, 0.6), 0.45, level),
        "direction": np.broadcast_to(_towards(rng.uniform(-0.8, 0.8, 2), 0.0, level), (frames, 2)),
        "flicker": 1.0 + level * 0.04 * rng.standard_normal(frames),
        "sigma": level * rng.uniform(3.0, 10.0) / 255.0,
    }


def kinect_depth(depth: np.ndarray, rng: np.random.Generator, level: float) -> np.ndarray:
    """Sensed depth (T, H, W) uint16 mm from true depth in metres (inf = nothing; background stays 0).

    Noise grows with distance like Kinect's axial noise (1.2 mm + 1.9 mm * (z - 0.4)^2, Nguyen et al.
    2012); 3% of pixels and 40% of silhouette-edge pixels read nothing (0).
    """
    mask = np.isfinite(depth)
    z = np.where(mask, depth, 0.0)
    z = z + rng.standard_normal(depth.shape, dtype=np.float32) * level * (0.0012 + 0.0019 * (z - 0.4) ** 2)
    interior = mask.copy()
    for axis, shift in ((1, 1), (1, -1), (2, 1), (2, -1)):
        interior &= np.roll(mask, shift, axis)
    holes = rng.random(depth.shape, dtype=np.float32) < np.where(interior, 0.03, 0.4) * min(level, 1.0)
    return np.where(mask & ~holes, np.clip(np.round(z * 1000.0), 1, 65535), 0).astype(np.uint16)
