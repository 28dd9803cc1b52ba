"""Point clouds from depth maps, the way the P4Transformer / PSTNet family builds them.

Why a fixed N by sampling: batches need equal shapes, and point-cloud encoders sample anyway.
Each frame keeps ``points`` valid pixels (depth > 0) chosen uniformly at random without
replacement; a frame with fewer valid pixels repeats them (cycling), one with none is all zeros.
"""

from __future__ import annotations

import numpy as np

from fusion_plugins.synthact.cameras import backproject


def depth_to_points(depth_mm: np.ndarray, k: dict, points: int, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W) uint16 mm → (T, points, 3) float32 metres in the camera frame (same frame as the skeleton)."""
    t, h, w = depth_mm.shape
    flat = depth_mm.reshape(t, h * w)
    valid = flat > 0
    keys = np.where(valid, rng.random(flat.shape, dtype=np.float32), 2.0)
    order = np.argsort(keys, axis=1, kind="stable")
    count = valid.sum(1)
    pick = np.take_along_axis(order, np.arange(points)[None, :] % np.maximum(count, 1)[:, None], axis=1)
    z = np.take_along_axis(flat, pick, axis=1).astype(np.float32) / 1000.0
    xyz = backproject(pick % w + 0.5, pick // w + 0.5, z, k)
    return np.where((count > 0)[:, None, None], xyz, 0.0).astype(np.float32)
