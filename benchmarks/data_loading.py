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
3. Video: frames/s of raw torchcodec decoding, of the ``ntu`` reader's items and of the full loader
   (reader + float batches, as training collates) on the reader's training mp4 files, in
   ``--rounds`` interleaved rounds; ratios to raw decoding, i.e. what the loader keeps of the
   decoder's speed (raw decord and PyAV are shown for reference).
"""

from __future__ import annotations

import argparse
import json
import statistics
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
        elif backend.startswith("torchcodec"):
            from torchcodec.decoders import VideoDecoder

            mode = "exact" if backend == "torchcodec-exact" else "approximate"
            decoder = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode=mode)
            clip = decoder.get_frames_in_range(0, frames).data.numpy()
        else:
            import av

            with av.open(str(path)) as container:
                clip = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        decoded += len(clip)
    return decoded / (time.perf_counter() - start), decoded / max(time.process_time() - cpu, 1e-9)


def video_ratios(registry, rgb_dir: Path, args) -> dict:
    """Section 3: raw decoding vs the ``ntu`` reader vs the full loader on the same mp4 files, in interleaved
    rounds (order flipped every round, so load on a shared machine hits every path alike); each ratio is
    the median over rounds of (path frames/s) / (raw torchcodec frames/s of the same round)."""
    from fusion_plugins.formats.video import has_decord, has_torchcodec, resolve_backend

    reader = registry.get("dataset", "ntu").factory("train", benchmark=None, missing="none", modalities=["rgb"],
                                                    rgb_dir=str(rgb_dir))
    videos = [Path(reader.info(i).extra["files"]["rgb_dir"]) for i in range(len(reader))]  # the same files
    frames = len(videos) * args.frames
    dataset = RecipeDataset(reader, ["rgb"])
    collator = build_collator({"data": {"modalities": ["rgb"]}, "model": {"encoders": {}}}, registry, dataset)
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=False, num_workers=args.workers, collate_fn=collator)
    paths = {
        "raw torchcodec (approximate mode, one range per file)": lambda: _decode_pass(videos, args.frames, "torchcodec"),
        "raw torchcodec (exact mode, as the reader opens)": lambda: _decode_pass(videos, args.frames, "torchcodec-exact"),
        f"ntu reader items ({resolve_backend('auto')}: open, checks, exact read)":
            lambda: _rate(lambda: [reader[i] and None for i in range(len(reader))], frames),  # each dropped, as raw
        f"full loader (reader + float (3, T, H, W) batches of {args.batch}, {args.workers} workers)":
            lambda: _rate(lambda: sum(len(b["label"]) for b in loader), frames),
    }
    if not has_torchcodec():
        raise SystemExit("section 3 needs torchcodec (the loader's default backend) for the raw baseline")
    names = list(paths)
    for name in names:  # warm-up: file cache, decoder libraries, allocator
        paths[name]()
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            rates[name].append(paths[name]())
    raw = rates[names[0]]
    rows = {}
    for name in names:
        ratio_wall = statistics.median(r[0] / b[0] for r, b in zip(rates[name], raw))
        ratio_cpu = statistics.median(r[1] / b[1] for r, b in zip(rates[name], raw))
        rows[name] = {"fps_wall": round(statistics.median(r[0] for r in rates[name]), 1),
                      "fps_cpu": round(statistics.median(r[1] for r in rates[name]), 1),
                      "ratio_wall": round(ratio_wall, 3), "ratio_cpu": round(ratio_cpu, 3)}
    others = {b: raw_decode_fps(videos, args.frames, b) for b, ok in (("decord", has_decord()), ("pyav", True)) if ok}
    print(f"\nvideo: {len(videos)} training mp4 of {args.frames} frames at {args.size}x{args.size}, {args.rounds} "
          f"interleaved rounds, {args.threads} torch thread(s); frames/s per wall / CPU second of this process, medians;")
    print("ratio = median over rounds of (frames/s) / (raw torchcodec approximate-mode frames/s of the same round)\n")
    print("| path | frames/s (wall / CPU) | ratio to raw torchcodec (wall / CPU) |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['fps_wall']:.0f} / {row['fps_cpu']:.0f} | {row['ratio_wall']:.2f} / {row['ratio_cpu']:.2f} |")
    for backend, (wall, cpu) in others.items():
        print(f"| raw {backend} (not interleaved) | {wall:.0f} / {cpu:.0f} | - |")
    loader_row = rows[names[-1]]
    print(f"\nFULL LOADER / RAW DECODE: {loader_row['ratio_wall']:.2f} (wall), {loader_row['ratio_cpu']:.2f} (CPU); "
          f"target >= 0.95 (issue 20)")
    return {"videos": len(videos), "rounds": args.rounds, "paths": rows,
            "raw_other_fps": {b: {"wall": round(w, 1), "cpu": round(c, 1)} for b, (w, c) in others.items()},
            "loader_ratio": {"wall": loader_row["ratio_wall"], "cpu": loader_row["ratio_cpu"]}}


def _rate(fn, frames: int) -> tuple[float, float]:
    """frames/s of ``fn()`` per wall second and per CPU second of this process."""
    _, wall, cpu = timed(fn)
    return frames / wall, frames / max(cpu, 1e-9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("subjects", 10), ("classes", 12), ("frames", 32), ("size", 64), ("repetitions", 2)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in this process (1, as in DataLoader workers; more threads fight "
                             "over a busy machine's cores)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of section 3 (video)")
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

        results["video"] = video_ratios(registry, files / RGB_DIR, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
