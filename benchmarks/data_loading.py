"""How fast is the data path? SynthAct generation, data-loader samples/s per modality, video decode overhead.

    python benchmarks/data_loading.py [--subjects 10 --classes 12 --frames 32 --size 64]
                                      [--batch 32 --workers 0 --json results.json]

Measures, on a fresh temporary cache (so generation is cold):

1. SynthAct generation: the scene (skeleton, pose2d), then the images (rgb, depth, point cloud),
   then writing the real file formats (``fusion data synthact``), per format.
2. Data-loader samples/s per modality over the training split, batch ``--batch``, ``--workers``
   worker processes, raw samples collated as training does (no transforms): from the generated
   cache (``synthact`` dataset), and from the written files through the NTU-folder reader
   (``ntu`` dataset: .skeleton parsing, 16-bit PNG decoding, mp4 decoding, depth → points) when
   the formats plugin provides it.
3. Video: the loader's frames/s on the written mp4 files divided by raw decoding frames/s of the
   same files and frames (decord ``VideoReader.get_batch``, and PyAV), i.e. what the loader keeps
   of the decoder's speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from fusion.data import RecipeDataset
from fusion.registry import get_registry
from fusion.train.build import build_collator

MODALITIES = ("skeleton", "pose2d", "rgb", "depth", "pointcloud")


def timed(fn):
    """``fn()``, its wall seconds and its CPU seconds (the latter is what counts on a busy machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


def loader_throughput(base, modality: str, batch: int, workers: int, epochs: int = 2) -> tuple[float, float]:
    """Best samples/s over ``epochs`` passes of a DataLoader that collates ``modality`` as training does,
    per wall second and per CPU second of this process (the fair number on a shared machine; workers=0 only)."""
    registry = get_registry()
    dataset = RecipeDataset(base, [modality])
    collator = build_collator({"data": {"modalities": [modality]}, "model": {"encoders": {}}}, registry, dataset)
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers, collate_fn=collator)
    best, best_cpu = 0.0, 0.0
    for _ in range(epochs):
        start, cpu = time.perf_counter(), time.process_time()
        count = sum(len(b["label"]) for b in loader)
        best = max(best, count / (time.perf_counter() - start))
        best_cpu = max(best_cpu, count / max(time.process_time() - cpu, 1e-9))
    return best, best_cpu


def raw_decode_fps(paths: list[Path], frames: int, backend: str, repeats: int = 2) -> tuple[float, float]:
    """Best frames/s (wall, CPU) decoding every frame of ``paths`` with ``backend`` in a tight loop."""
    passes = [_decode_pass(paths, frames, backend) for _ in range(repeats)]
    return max(p[0] for p in passes), max(p[1] for p in passes)


def _decode_pass(paths: list[Path], frames: int, backend: str) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    decoded = 0
    indices = np.arange(frames)
    for path in paths:
        if backend == "decord":
            import decord

            clip = decord.VideoReader(str(path), num_threads=1).get_batch(indices).asnumpy()
        elif backend == "torchcodec":
            from torchcodec.decoders import VideoDecoder

            decoder = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode="approximate")
            clip = decoder.get_frames_in_range(0, frames).data.numpy()
        else:
            import av

            with av.open(str(path)) as container:
                clip = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        decoded += len(clip)
    return decoded / (time.perf_counter() - start), decoded / max(time.process_time() - cpu, 1e-9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("subjects", 10), ("classes", 12), ("frames", 32), ("size", 64), ("repetitions", 2)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in this process (1, as in DataLoader workers; more threads fight "
                             "over a busy machine's cores)")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--video-only", action="store_true",
                        help="only section 3 (write the rgb files, loader vs raw decoding)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from fusion_plugins.synthact.config import SynthActConfig
    from fusion_plugins.synthact.dataset import SynthAct
    from fusion_plugins.synthact.writers import DEPTH_DIR, RGB_DIR, SKELETON_DIR, write_synthact

    params = {k: getattr(args, k) for k in ("subjects", "classes", "frames", "size", "repetitions")}
    results: dict = {"params": params, "batch": args.batch, "workers": args.workers, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="synthact_bench_") as tmp:
        cache, files = Path(tmp) / "cache", Path(tmp) / "files"
        modalities = ("rgb",) if args.video_only else MODALITIES
        full, scene_s, scene_cpu = timed(lambda: SynthAct("all", modalities=["skeleton"], cache_dir=cache, **params))
        _, images_s, images_cpu = timed(lambda: SynthAct("all", modalities=list(modalities), cache_dir=cache, **params))
        written = write_synthact(files, SynthActConfig(**params), *([("rgb",)] if args.video_only else []), cache_dir=cache)
        results["generation"] = {
            "samples": len(full),
            "scene_s": round(scene_s, 2),
            "images_s": round(images_s, 2),
            "total_s": round(scene_s + images_s, 2),
            "total_cpu_s": round(scene_cpu + images_cpu, 2),
            "write_s": {k[:-2]: round(v, 2) for k, v in written.items() if k.endswith("_s") and k != "generate_s"},
        }
        print(f"SynthAct generation (cold, {len(full)} samples): scene (skeleton, pose2d) {scene_s:.1f} s, "
              f"images (rgb, depth, point cloud) {images_s:.1f} s, total {scene_s + images_s:.1f} s wall, "
              f"{scene_cpu + images_cpu:.1f} s CPU")
        print("writing real formats: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["generation"]["write_s"].items()))

        cached = {}
        for modality in () if args.video_only else MODALITIES:
            base = SynthAct("train", modalities=[modality], cache_dir=cache, **params)
            cached[modality] = loader_throughput(base, modality, args.batch, args.workers)
        results["loader_cache"] = {m: {"wall": round(w, 1), "cpu": round(c, 1)} for m, (w, c) in cached.items()}

        from_files = {}
        registry = get_registry()
        if "ntu" in registry.specs["dataset"]:
            factory = registry.get("dataset", "ntu").factory
            camera = json.loads((files / "synthact.json").read_text())["cameras"]["1"]["intrinsics"]
            folders = {"skeleton_dir": str(files / SKELETON_DIR), "rgb_dir": str(files / RGB_DIR),
                       "depth_dir": str(files / DEPTH_DIR)}
            for modality in modalities:
                base = factory("train", benchmark=None, missing="none", modalities=[modality], depth_size=None,
                               points=256, intrinsics=camera, **folders)
                from_files[modality] = loader_throughput(base, modality, args.batch, args.workers)
        results["loader_files"] = {m: {"wall": round(w, 1), "cpu": round(c, 1)} for m, (w, c) in from_files.items()}

        print(f"\ndata loader, training split, batch {args.batch}, {args.workers} workers, {args.threads} torch threads "
              "(samples per wall second / per CPU second):")
        print(f"  {'modality':<11}{'cache':>20}{'files':>20}")
        for m in MODALITIES:
            cells = [f"{d[m][0]:.0f} / {d[m][1]:.0f}" if m in d else "-" for d in (cached, from_files)]
            print(f"  {m:<11}{cells[0]:>20}{cells[1]:>20}")

        base = SynthAct("train", modalities=["rgb"], cache_dir=cache, **params)
        train_videos = [files / RGB_DIR / f"{base.sample_id(i)}_rgb.mp4" for i in range(len(base))]
        from fusion_plugins.formats.video import has_decord, has_torchcodec, resolve_backend

        backends = [b for b, ok in (("torchcodec", has_torchcodec()), ("decord", has_decord()), ("pyav", True)) if ok]
        raw = {b: raw_decode_fps(train_videos, args.frames, b) for b in backends}
        video = {"videos": len(train_videos), "raw_decode_fps": {b: {"wall": round(w, 1), "cpu": round(c, 1)}
                                                                 for b, (w, c) in raw.items()}}
        print(f"\nvideo ({len(train_videos)} training mp4, {args.frames} frames of {args.size}x{args.size}), frames/s "
              "wall / CPU:")
        print("  raw decoding: " + ", ".join(f"{b} {w:.0f} / {c:.0f}" for b, (w, c) in raw.items()))
        reader = registry.get("dataset", "ntu").factory("train", benchmark=None, missing="none", modalities=["rgb"],
                                                        rgb_dir=str(files / RGB_DIR))
        passes = [timed(lambda: [reader[i] for i in range(len(reader))]) for _ in range(2)]
        reader_fps = (len(reader) * args.frames / min(p[1] for p in passes),
                      len(reader) * args.frames / max(min(p[2] for p in passes), 1e-9))
        video["reader_fps"] = {"wall": round(reader_fps[0], 1), "cpu": round(reader_fps[1], 1)}
        video["reader_ratio"] = {b: {"wall": round(reader_fps[0] / w, 3), "cpu": round(reader_fps[1] / c, 3)}
                                 for b, (w, c) in raw.items()}
        print(f"  reader (ntu dataset items, no collation, backend {resolve_backend('auto')}): {reader_fps[0]:.0f} / "
              f"{reader_fps[1]:.0f}; ratio to raw decoding: " + ", ".join(
                  f"{b} {r['wall']:.2f} (wall) / {r['cpu']:.2f} (CPU)" for b, r in video["reader_ratio"].items()))
        if "rgb" in from_files:
            wall, cpu = (v * args.frames for v in from_files["rgb"])
            video["loader_fps"] = {"wall": round(wall, 1), "cpu": round(cpu, 1)}
            video["ratio"] = {b: {"wall": round(wall / w, 3), "cpu": round(cpu / c, 3)} for b, (w, c) in raw.items()}
            video["loader_backend"] = resolve_backend("auto")
            print(f"  loader (ntu reader, rgb, backend {video['loader_backend']}): {wall:.0f} / {cpu:.0f}; ratio to raw decoding: "
                  + ", ".join(f"{b} {r['wall']:.2f} (wall) / {r['cpu']:.2f} (CPU)" for b, r in video["ratio"].items()))
        results["video"] = video
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
