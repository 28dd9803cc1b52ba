"""User files → raw samples, through the registered input formats and pose estimators.

A path is read by the first input format (``fusion_add_input_formats``) whose ``accepts`` says
yes; files of one sample (same ``meta["id"]``, e.g. an NTU ``.skeleton`` and its ``_rgb.avi``) are
merged into one multimodal sample. A video given to a run that reads ``pose2d`` goes through a
pose estimator (``fusion_add_pose_estimators``) first.
"""

from __future__ import annotations

import time
from pathlib import Path

from fusion.errors import DataError, FusionError
from fusion.registry import Registry


def input_format_for(registry: Registry, path: str | Path, name: str | None = None, prefer: str | None = None):
    """The input format spec that reads ``path`` (``name`` forces one; ``prefer``, the run's dataset name,
    wins among those that accept the file, so a ``keypoint_folder`` run reads ``.npy`` files as its own)."""
    if name:
        return registry.get("input_format", name)
    if not Path(path).exists():
        raise DataError(f"{path}: no such file or folder")
    for spec in sorted(registry.all_specs("input_format"), key=lambda s: s.name != prefer):
        if spec.accepts is not None and spec.accepts(str(path)):
            return spec
    known = "; ".join(f"{s.name} ({s.doc})" for s in registry.all_specs("input_format"))
    raise DataError(f"{path}: no input format reads this file or folder; known formats: {known or 'none'}")


def read_inputs(registry: Registry, paths, frames: int | None = None, max_bodies: int = 2, points: int = 2048,
                fmt: str | None = None, prefer: str | None = None) -> list[dict]:
    """Every sample in ``paths`` (a pickle or packed array may hold several), files of one sample merged."""
    merged: dict[str, dict] = {}
    for path in paths:
        spec = input_format_for(registry, path, fmt, prefer)
        start = time.perf_counter()
        samples = spec.factory(str(path), frames, max_bodies, points)
        seconds = (time.perf_counter() - start) / max(len(samples), 1)
        for sample in samples:
            meta = dict(sample.get("meta") or {})
            meta.setdefault("id", Path(path).stem)
            meta["seconds"] = {**meta.get("seconds", {}), "decode": seconds}
            sample["meta"] = meta
            key = str(meta["id"])
            if key in merged:
                earlier = merged[key]
                clash = [m for m in sample if m not in ("label", "meta") and earlier.get(m) is not None]
                if clash:
                    raise DataError(f"{path}: sample {key!r} has {', '.join(clash)} from two inputs "
                                    f"({earlier['meta'].get('source')} and {meta.get('source')})")
                merged[key] = {**earlier, **{k: v for k, v in sample.items() if k not in ("label", "meta")},
                               "meta": {**meta, **earlier["meta"]}}
            else:
                merged[key] = sample
    return list(merged.values())


def pose_estimator(registry: Registry, name: str | None, layout: str, max_persons: int, model_path: str | None):
    """An estimator instance: ``name``, or the first registered one that needs no model file."""
    specs = registry.all_specs("pose_estimator")
    if not specs:
        raise FusionError("no pose estimator is registered; install a plugin providing fusion_add_pose_estimators "
                          "(the built-in ones: fusion list pose_estimators)")
    spec = registry.get("pose_estimator", name) if name else specs[0]
    return spec.factory(layout=layout, max_persons=max_persons, model_path=model_path)


#: Modalities a pose estimator can fill: 2D poses, and ``skeleton`` for runs trained on 2D poses
#: (PySKL HRNet pickles and Kinetics give ``skeleton`` = x, y, score).
POSE_MODALITIES = ("pose2d", "skeleton")


def pose_targets(modalities, sample: dict) -> list[str]:
    """The modalities an estimator must fill for ``sample`` (those the run reads that a video lacks)."""
    if sample.get("rgb") is None:
        return []
    return [m for m in POSE_MODALITIES if m in modalities and sample.get(m) is None]


def add_poses(samples: list[dict], estimator, modalities=("pose2d",)) -> None:
    """Fill the pose modalities the run reads (with layout and bones) from ``rgb``, timing the estimator."""
    for sample in samples:
        targets = pose_targets(modalities, sample)
        if not targets:
            continue
        start = time.perf_counter()
        pose, info = estimator(sample["rgb"])
        meta = sample["meta"]
        meta["seconds"] = {**meta.get("seconds", {}), "pose": time.perf_counter() - start}
        height, width = sample["rgb"].shape[1:3]
        meta.update(pose2d_layout=info.get("layout"), bones=info.get("bones", []), img_shape=(height, width),
                    image_size=(width, height))
        meta["layout"] = info.get("layout")
        meta["skeleton_pixels"] = "skeleton" in targets  # 2D pixels + score in the skeleton slot (for overlays)
        for key in targets:
            sample[key] = pose
