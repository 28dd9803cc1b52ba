"""Rasterise bodies (capsules) and held objects into a z-buffer: depth, which part, and shading.

Why this way: each primitive covers a few dozen pixels, so instead of testing every pixel against
every capsule we evaluate each primitive only in a small window around its projection, for all
frames of a chunk at once (numpy broadcasting over frames x window pixels), and merge windows
into a padded z-buffer whose int32 keys pack (depth, part id): one ``minimum`` per primitive
resolves visibility and identity together. A capsule's depth at a pixel is the depth of its axis
minus the radius bulge, r * sqrt(1 - (d / r_px)^2) (weak perspective per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion_plugins.synthact.body import J

#: Body capsules: (from joint, to joint, radius as a fraction of height, colour role).
#: Roles: 0 shirt, 1 pants, 2 skin, 3 shoes. A capsule from a joint to itself is a sphere.
CAPSULES: tuple[tuple[str, str, float, int], ...] = (
    ("SpineBase", "SpineShoulder", 0.068, 0),
    ("LShoulder", "RShoulder", 0.030, 0),
    ("LHip", "RHip", 0.050, 1),
    ("SpineShoulder", "Neck", 0.026, 2),
    ("Head", "Head", 0.062, 2),
    ("LShoulder", "LElbow", 0.024, 0),
    ("RShoulder", "RElbow", 0.024, 0),
    ("LElbow", "LWrist", 0.019, 2),
    ("RElbow", "RWrist", 0.019, 2),
    ("LWrist", "LHandTip", 0.014, 2),
    ("RWrist", "RHandTip", 0.014, 2),
    ("LHip", "LKnee", 0.038, 1),
    ("RHip", "RKnee", 0.038, 1),
    ("LKnee", "LAnkle", 0.028, 1),
    ("RKnee", "RAnkle", 0.028, 1),
    ("LAnkle", "LFoot", 0.020, 3),
    ("RAnkle", "RFoot", 0.020, 3),
)
CAP_A = np.array([J[a] for a, _, _, _ in CAPSULES])
CAP_B = np.array([J[b] for _, b, _, _ in CAPSULES])
CAP_RADIUS = np.array([r for _, _, r, _ in CAPSULES])
CAP_ROLE = np.array([role for _, _, _, role in CAPSULES])
DEPTH_STEPS = 4000  # z-buffer depth resolution: 1/4 mm
ID_BITS = 6  # up to 64 primitives per frame
EMPTY = np.iinfo(np.int32).max


@dataclass
class Primitives:
    """Everything to draw in a chunk of n samples x T frames (camera frame, metres).

    Capsules ``a``, ``b`` (n, T, P, 3) with radii (n, P); boxes are camera-facing cubes with
    centre (n, T, 3) and half side (n,) (0 = no box). Part ids: capsules 0..P-1, the box P.
    """

    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    box_centre: np.ndarray
    box_half: np.ndarray

    @property
    def box_id(self) -> int:
        return self.a.shape[2]


@dataclass
class Render:
    """Per frame (n*T, H, W): depth in metres (inf = nothing) and part id (-1 = background)."""

    depth: np.ndarray
    part: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.part >= 0


def body_capsules(joints: np.ndarray, height: np.ndarray, girth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capsule ends (n, T, 17, 3) and radii (n, 17) of bodies with joints (n, T, V, 3)."""
    return joints[:, :, CAP_A], joints[:, :, CAP_B], (height * girth)[:, None] * CAP_RADIUS


def _windows(u0, v0, u1, v1, size: int):
    """Integer window origins (per frame) and a window size covering [u0, u1] x [v0, v1] for every frame."""
    width = int(np.ceil(np.max(u1 - u0, initial=0.0))) + 2
    height = int(np.ceil(np.max(v1 - v0, initial=0.0))) + 2
    width, height = min(width, size + 2), min(height, size + 2)
    return np.floor(u0).astype(np.int64), np.floor(v0).astype(np.int64), width, height


def rasterise(prims: Primitives, k: dict) -> Render:
    """Z-buffer every primitive of ``prims`` with intrinsics ``k`` (square images of k["width"] pixels)."""
    n, t, p, _ = prims.a.shape
    size, f = int(k["width"]), float(k["fx"])
    frames = n * t
    a = prims.a.reshape(frames, p, 3)
    b = prims.b.reshape(frames, p, 3)
    radius = np.repeat(prims.radius, t, axis=0)  # (frames, P)
    za, zb = np.maximum(a[..., 2], 0.05), np.maximum(b[..., 2], 0.05)
    ua = np.stack([k["cx"] + f * a[..., 0] / za, k["cy"] - f * a[..., 1] / za], -1)
    ub = np.stack([k["cx"] + f * b[..., 0] / zb, k["cy"] - f * b[..., 1] / zb], -1)
    ra, rb = f * radius / za, f * radius / zb
    lo = np.minimum(ua - ra[..., None], ub - rb[..., None])
    hi = np.maximum(ua + ra[..., None], ub + rb[..., None])
    box_c = prims.box_centre.reshape(frames, 3)
    box_z = np.maximum(box_c[:, 2], 0.05)
    box_uv = np.stack([k["cx"] + f * box_c[:, 0] / box_z, k["cy"] - f * box_c[:, 1] / box_z], -1)
    box_r = f * np.repeat(prims.box_half, t) / box_z
    windows = [_windows(lo[:, i, 0], lo[:, i, 1], hi[:, i, 0], hi[:, i, 1], size) for i in range(p)]
    windows.append(_windows(box_uv[:, 0] - box_r, box_uv[:, 1] - box_r, box_uv[:, 0] + box_r, box_uv[:, 1] + box_r, size))
    pad = max(max(w[2], w[3]) for w in windows)
    zbuf = np.full((frames, size + 2 * pad, size + 2 * pad), EMPTY, np.int32)
    fidx = np.arange(frames)[:, None, None]

    def merge(window, depth: np.ndarray, inside: np.ndarray, part: int) -> None:
        cu, cv, w, h = window
        cu = np.clip(cu, -pad, size + pad - w)[:, None, None]
        cv = np.clip(cv, -pad, size + pad - h)[:, None, None]
        rows, cols = cv + pad + np.arange(h)[None, :, None], cu + pad + np.arange(w)[None, None, :]
        key = np.where(inside, (np.clip(depth, 0.0, 100.0) * DEPTH_STEPS).astype(np.int32) * (1 << ID_BITS) + part, EMPTY)
        zbuf[fidx, rows, cols] = np.minimum(zbuf[fidx, rows, cols], key)

    def pixel_centres(window):
        cu, cv, w, h = window
        cu = np.clip(cu, -pad, size + pad - w)
        cv = np.clip(cv, -pad, size + pad - h)
        return (cu[:, None, None] + np.arange(w)[None, None, :] + 0.5), (cv[:, None, None] + np.arange(h)[None, :, None] + 0.5)

    for i in range(p):
        pu, pv = pixel_centres(windows[i])
        au, av = ua[:, i, 0, None, None], ua[:, i, 1, None, None]
        eu, ev = (ub[:, i, 0] - ua[:, i, 0])[:, None, None], (ub[:, i, 1] - ua[:, i, 1])[:, None, None]
        du, dv = pu - au, pv - av
        s = np.clip((du * eu + dv * ev) / np.maximum(eu * eu + ev * ev, 1e-9), 0.0, 1.0)
        d2 = (du - s * eu) ** 2 + (dv - s * ev) ** 2
        rp = ra[:, i, None, None] + s * (rb[:, i] - ra[:, i])[:, None, None]
        q2 = d2 / np.maximum(rp * rp, 1e-12)
        z = za[:, i, None, None] + s * (zb[:, i] - za[:, i])[:, None, None]
        depth = z - radius[:, i, None, None] * np.sqrt(np.maximum(1.0 - q2, 0.0))
        merge(windows[i], depth, q2 < 1.0, i)
    pu, pv = pixel_centres(windows[p])
    half = box_r[:, None, None]
    inside = (np.abs(pu - box_uv[:, 0, None, None]) < half) & (np.abs(pv - box_uv[:, 1, None, None]) < half)
    merge(windows[p], np.broadcast_to((box_z - np.repeat(prims.box_half, t))[:, None, None], inside.shape), inside, p)

    keys = zbuf[:, pad : pad + size, pad : pad + size]
    hit = keys != EMPTY
    depth = np.where(hit, (keys >> ID_BITS) / DEPTH_STEPS, np.inf).astype(np.float32)
    part = np.where(hit, keys & ((1 << ID_BITS) - 1), -1).astype(np.int16)
    return Render(depth=depth, part=part)


def lambert(depth: np.ndarray, hit: np.ndarray, focal: float, light: np.ndarray) -> np.ndarray:
    """Facing ratio to a light from depth-map normals (one-sided differences at silhouettes).

    ``light`` (frames, 2): the light direction's x and y slopes; (0, 0) is a light at the camera.
    """
    z = np.where(hit, depth, np.float32(0.0))
    scale = np.float32(focal) / np.where(hit, depth, np.float32(1.0))

    def slope(axis: int) -> np.ndarray:
        zp = np.pad(z, [(0, 0)] + [(1, 1) if a == axis else (0, 0) for a in (1, 2)])
        hp = np.pad(hit, [(0, 0)] + [(1, 1) if a == axis else (0, 0) for a in (1, 2)])
        cut = [slice(None)] * 3
        fwd, bwd = (zp[tuple(cut[:axis] + [slice(s, s + z.shape[axis])])] for s in (2, 0))
        mf, mb = (hp[tuple(cut[:axis] + [slice(s, s + z.shape[axis])])] for s in (2, 0))
        # central difference inside, one-sided next to background, 0 where both neighbours are empty
        g = np.where(mf, fwd, z) - np.where(mb, bwd, z)
        g *= np.where(mf & mb, np.float32(0.5), np.float32(1.0))
        g *= scale
        return np.clip(g, -4.0, 4.0, out=g)

    nx, ny = slope(2), slope(1)
    ny *= -1
    lx, ly = (light[:, i, None, None].astype(np.float32) for i in (0, 1))
    dot = nx * lx + ny * ly + 1.0
    dot /= np.sqrt(nx * nx + ny * ny + 1.0) * np.sqrt(lx * lx + ly * ly + 1.0)
    return np.where(hit, np.maximum(dot, 0.0), np.float32(0.0)).astype(np.float32)
