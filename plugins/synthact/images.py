"""RGB, depth and point clouds of a chunk of samples: scene → primitives → z-buffer → sensors."""

from __future__ import annotations

import numpy as np

from fusion.train.console import bar, progress_enabled
from fusion_plugins.synthact.actions import OBJECTS
from fusion_plugins.synthact.body import Subjects
from fusion_plugins.synthact.cache import ArrayCache
from fusion_plugins.synthact.cameras import make_cameras
from fusion_plugins.synthact.config import SynthActConfig
from fusion_plugins.synthact.nuisances import background, kinect_depth, lighting
from fusion_plugins.synthact.points import depth_to_points
from fusion_plugins.synthact.render import CAP_ROLE, Primitives, Render, body_capsules, lambert, rasterise
from fusion_plugins.synthact.samples import SampleIndex
from fusion_plugins.synthact.scene import DEPTH_NOISE, POINTS, RGB_NOISE, Scene, sample_stream, subjects_of

OBJECT_COLOURS = np.array([o.colour for o in OBJECTS.values()])


def _object_params(index: SampleIndex, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: round-object radius, capsule half length, box half side (0 where absent)."""
    radius, half_len, box = (np.zeros(len(rows)) for _ in range(3))
    for label, action in enumerate(index.classes):
        if action.obj is None:
            continue
        spec, sel = OBJECTS[action.obj], index.label[rows] == label
        if spec.shape == "box":
            box[sel] = spec.size
        else:
            radius[sel], half_len[sel] = spec.size, spec.length / 2
    return radius, half_len, box


def primitives(cfg: SynthActConfig, index: SampleIndex, scene: Scene, subjects: Subjects, rows: np.ndarray) -> tuple[Primitives, np.ndarray]:
    """The primitives of samples ``rows`` and their colour table (n, parts, 3)."""
    cameras = make_cameras(cfg.size)
    joints = np.asarray(scene.skeleton_gt[rows], dtype=np.float64)  # (n, M, T, V, 3)
    who = np.asarray(scene.body_subject[rows]) - 1  # (n, M)
    ends_a, ends_b, radii, colours = [], [], [], []
    for m in range(joints.shape[1]):
        a, b, r = body_capsules(joints[:, m], subjects.height[who[:, m]], subjects.girth[who[:, m]])
        ends_a.append(a), ends_b.append(b), radii.append(r)
        palette = np.stack([subjects.shirt, subjects.pants, subjects.skin, subjects.shoes], 1)[who[:, m]]  # (n, 4, 3)
        colours.append(palette[:, CAP_ROLE])
    scale = np.asarray(scene.obj_scale[rows], dtype=np.float64)
    radius, half_len, box = _object_params(index, rows)
    centre = np.asarray(scene.obj_centre[rows], dtype=np.float64)  # (n, T, 3)
    up = np.stack([cameras[c].rotation[:, 1] for c in index.camera[rows]])[:, None, :]  # world vertical, camera frame
    offset = (half_len * scale)[:, None, None] * up
    ends_a.append((centre - offset)[:, :, None]), ends_b.append((centre + offset)[:, :, None])
    radii.append((radius * scale)[:, None])
    colour = np.asarray(scene.obj_colour[rows], dtype=np.float64)[:, None]
    colours += [colour, colour]  # round object, then box
    prims = Primitives(
        a=np.concatenate(ends_a, 2), b=np.concatenate(ends_b, 2), radius=np.concatenate(radii, 1),
        box_centre=centre, box_half=box * scale,
    )  # fmt: skip
    return prims, np.concatenate(colours, 1)


def compose_rgb(cfg: SynthActConfig, index: SampleIndex, rows: np.ndarray, render: Render, colours: np.ndarray, focal: float) -> np.ndarray:
    """(n, T, H, W, 3) uint8: shaded body and object colours over each sample's room, lit and noisy."""
    n, t, size = len(rows), cfg.frames, cfg.size
    backgrounds = np.empty((n, 1, size, size, 3), np.float32)
    noise = np.empty((n, t, size, size, 3), np.float32)
    lights = []
    for i, row in enumerate(rows):
        rng = sample_stream(cfg, RGB_NOISE, index, row)
        backgrounds[i, 0] = background(rng, size, cfg.nuisance, OBJECT_COLOURS)
        lights.append(lighting(rng, t, cfg.nuisance))
        rng.standard_normal((t, size, size, 3), dtype=np.float32, out=noise[i])
        noise[i] *= np.float32(255.0 * lights[-1]["sigma"])
    mask = render.mask.reshape(n, t, size, size, 1)
    direction = np.concatenate([light["direction"] for light in lights])
    ambient = np.array([light["ambient"] for light in lights], np.float32)[:, None, None, None, None]
    shade = lambert(render.depth, render.mask, focal, direction).reshape(n, t, size, size, 1)
    shade *= 1 - ambient
    shade += ambient
    part = np.maximum(render.part, 0).reshape(n, t * size * size, 1)
    image = np.take_along_axis(colours.astype(np.float32), part, axis=1).reshape(n, t, size, size, 3)
    image *= shade
    image = np.where(mask, image, backgrounds)
    gain = np.stack([light["gain"] for light in lights])[:, None, :] * np.stack([light["flicker"] for light in lights])[:, :, None]
    image *= (255.0 * gain).astype(np.float32)[:, :, None, None, :]
    image += noise
    image += 0.5
    return np.clip(image, 0, 255, out=image).astype(np.uint8)


def render_chunk(
    cfg: SynthActConfig, index: SampleIndex, scene: Scene, rows: np.ndarray, want: tuple[str, ...], subjects: Subjects | None = None
) -> dict[str, np.ndarray]:
    """The image modalities in ``want`` (rgb, depth, pointcloud) for samples ``rows``."""
    subjects = subjects or subjects_of(cfg)
    k = make_cameras(cfg.size)[1].intrinsics()  # all cameras share the intrinsics
    prims, colours = primitives(cfg, index, scene, subjects, rows)
    render = rasterise(prims, k)
    n, t, size = len(rows), cfg.frames, cfg.size
    out = {}
    if "rgb" in want:
        out["rgb"] = compose_rgb(cfg, index, rows, render, colours, k["fx"])
    if "depth" in want or "pointcloud" in want:
        depth = render.depth.reshape(n, t, size, size)
        sensed = np.stack([kinect_depth(depth[i], sample_stream(cfg, DEPTH_NOISE, index, r), cfg.nuisance) for i, r in enumerate(rows)])
        if "depth" in want:
            out["depth"] = sensed
        if "pointcloud" in want:
            out["pointcloud"] = np.stack(
                [depth_to_points(sensed[i], k, cfg.points, sample_stream(cfg, POINTS, index, r)) for i, r in enumerate(rows)]
            )
    return out


def image_shapes(cfg: SynthActConfig, samples: int) -> dict[str, tuple[tuple[int, ...], type]]:
    t, s = cfg.frames, cfg.size
    return {
        "rgb": ((samples, t, s, s, 3), np.uint8),
        "depth": ((samples, t, s, s), np.uint16),
        "pointcloud": ((samples, t, cfg.points, 3), np.float32),
    }


def render_to_cache(cfg: SynthActConfig, index: SampleIndex, scene: Scene, cache: ArrayCache, want: tuple[str, ...], chunk: int) -> None:
    """Render ``want`` for every sample, chunk by chunk, into memory-mapped cache files."""
    subjects = subjects_of(cfg)
    shapes = image_shapes(cfg, len(index))
    from contextlib import ExitStack

    with ExitStack() as stack:
        targets = {m: stack.enter_context(cache.create(m, *shapes[m])) for m in want}
        starts = range(0, len(index), chunk)
        for start in bar(starts, desc=f"rendering {', '.join(want)}", enabled=progress_enabled()):
            rows = np.arange(start, min(start + chunk, len(index)))
            for m, array in render_chunk(cfg, index, scene, rows, want, subjects).items():
                targets[m][rows] = array
