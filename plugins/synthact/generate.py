"""Generate what is asked for, once: the scene (skeleton group) and, if needed, the images.

Only the requested modalities are produced: a skeleton-only dataset never renders a pixel. The
images are rendered in chunks of samples straight into memory-mapped cache files, so large sizes
do not need the whole set in memory.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from fusion.errors import DataError
from fusion_plugins.synthact.cache import ArrayCache, cache_root
from fusion_plugins.synthact.config import SynthActConfig
from fusion_plugins.synthact.samples import SampleIndex, build_index
from fusion_plugins.synthact.scene import Scene, build_scene

#: Modalities that come from rendering (the rest come with the scene).
IMAGE_MODALITIES: tuple[str, ...] = ("rgb", "depth", "pointcloud")
CHUNK = 24  # samples rendered together


def open_cache(cfg: SynthActConfig, cache_dir: str | os.PathLike | None) -> ArrayCache:
    return ArrayCache(cache_root(cache_dir), cfg.key(), dataclasses.asdict(cfg))


def load_scene(cfg: SynthActConfig, cache: ArrayCache, index: SampleIndex | None = None) -> Scene:
    """The scene from the cache, generated and saved first if missing."""
    names = Scene.names()
    if not cache.has(*names):
        scene = build_scene(cfg, index or build_index(cfg))
        for name in names:
            cache.save(name, getattr(scene, name))
    return Scene(**{name: cache.load(name) for name in names})


def load_arrays(
    cfg: SynthActConfig, modalities: tuple[str, ...], cache_dir: str | os.PathLike | None = None
) -> tuple[SampleIndex, Scene, dict[str, np.ndarray]]:
    """The sample index, the scene and one (memory-mapped) array per requested modality."""
    index = build_index(cfg)
    cache = open_cache(cfg, cache_dir)
    scene = load_scene(cfg, cache, index)
    arrays = {"skeleton": scene.skeleton, "pose2d": scene.pose2d}
    wanted = [m for m in modalities if m in IMAGE_MODALITIES]
    missing = [m for m in wanted if not cache.has(m)]
    if missing:
        from fusion_plugins.synthact.images import render_to_cache

        render_to_cache(cfg, index, scene, cache, tuple(missing), chunk=CHUNK)
    arrays.update({m: cache.load(m) for m in wanted})
    for name, array in {**{n: getattr(scene, n) for n in Scene.names()}, **arrays}.items():
        if array.ndim == 0 or array.shape[0] != len(index):  # a cache file of another run or cut short
            raise DataError(f"synthact cache file {cache.path(name)} holds {array.shape[0] if array.ndim else 0} "
                            f"samples, expected {len(index)}; delete the folder {cache.folder} to regenerate it")
    return index, scene, {m: arrays[m] for m in modalities}
