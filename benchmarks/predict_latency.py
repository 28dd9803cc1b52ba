"""Streaming latency of ``fusion predict --stream``: windows/s and p50/p95 per stage on 2 CPU cores.

Three small runs are trained on SynthAct first (1 epoch: weights do not change the cost), then each
streams a source with a sliding window, one prediction per stride:

- ``gcn3d``: ST-GCN (small) on 3D joints, replaying an NTU ``.skeleton`` file of 320 frames;
- ``gcn2d_video``: ST-GCN on 2D poses (x, y, score in NTU-25 joints) extracted from the real 1080p video
  by MediaPipe; its weights come from SynthAct 3D joints, so only its timing means something;
- ``late_video``: a fused model (X3D-XS on RGB + that ST-GCN, late fusion) on the same video.

Stages: decode (file parse or video decode), pose (estimator), transform (the run's test
transforms + collate), model (forward). windows/s is measured in the steady state (from the first
full window to the last); ``(no pose)`` subtracts the estimator's time. The target: >= 4 windows/s for
the skeleton GCN (a 30 fps source at stride 8 needs 3.75).

    python benchmarks/predict_latency.py [--window 64] [--stride 8] [--threads 1] [--runs DIR]

Under load (other processes on the 2 cores), two torch threads wait on each other: the small ST-GCN
took 7-17 ms per window on one thread and 240-1100 ms on two, so one thread is the default.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "tests" / "data" / "two_people_1080p.mp4"
SYNTHACT = {"name": "synthact", "args": {"protocol": "xsub", "subjects": 2, "classes": 4, "repetitions": 1,
                                          "modalities": ["skeleton", "pose2d", "rgb"]}}
RUNS = {
    "gcn3d": {
        "data": {"modalities": ["skeleton"], "transforms": {
            "train": [{"name": "skeleton.center"}],
            "test": [{"name": "skeleton.center"}, {"name": "skeleton.uniform_sample", "args": {"frames": 64, "random": False}}]}},
        "model": {"encoders": {"skeleton": {"name": "stgcn", "args": {"layout": "ntu25", "in_channels": 3,
                                                                      "config": "small"}}},
                  "mixer": {"name": "concat"}, "head": {"name": "linear"}},
    },
    "gcn2d_video": {
        "data": {"modalities": ["skeleton"], "transforms": {
            "train": [], "test": [{"name": "skeleton.uniform_sample", "args": {"frames": 32, "random": False}}]}},
        "model": {"encoders": {"skeleton": {"name": "stgcn", "args": {"layout": "ntu25", "in_channels": 3,
                                                                    "config": "small"}}},
                  "mixer": {"name": "concat"}, "head": {"name": "linear"}},
    },
    "late_video": {
        "data": {"modalities": ["rgb", "skeleton"], "transforms": {
            "train": [{"name": "video.uniform_sample", "args": {"num_frames": 4, "train": True, "keys": ["rgb"]}},
                      {"name": "video.normalize"}],
            "test": [{"name": "video.uniform_sample", "args": {"num_frames": 4, "train": False, "keys": ["rgb"]}},
                     {"name": "video.resize", "args": {"size": 64}}, {"name": "video.center_crop", "args": {"size": 64}},
                     {"name": "video.normalize"},
                     {"name": "skeleton.uniform_sample", "args": {"frames": 32, "random": False}}]}},
        "model": {"encoders": {"rgb": {"name": "x3d_xs", "args": {"width_factor": 1.0, "depth_factor": 0.2,
                                                                  "stem_dim": 8}},
                               "skeleton": {"name": "stgcn", "args": {"layout": "ntu25", "in_channels": 3,
                                                                    "config": "small"}}},
                  "mixer": {"name": "late"}},
    },
}


def train(name: str, folder: Path) -> Path:
    from fusion.cli import main

    spec = RUNS[name]
    recipe = {"name": f"latency_{name}", "data": {"dataset": SYNTHACT, "num_workers": 0, **spec["data"]},
              "model": spec["model"],
              "train": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01}, "log_every": 1000},
              "eval": {"batch_size": 16}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run = folder / f"run-{name}"
    if not (run / "summary.json").is_file():
        if main(["train", str(path), "--out", str(run)]) != 0:
            raise SystemExit(f"training {name} failed")
    return run


def skeleton_source(folder: Path, frames: int = 320) -> Path:
    """A long NTU .skeleton file: SynthAct test sequences one after another (a replayed live sensor)."""
    from fusion_plugins.synthact.dataset import SynthAct
    from fusion_plugins.synthact.writers import skeleton_text

    data = SynthAct("test", protocol="xsub", subjects=2, classes=4, repetitions=1, modalities=["skeleton"])
    parts, total, k = [], 0, 0
    while total < frames:
        parts.append(data[k % len(data)]["skeleton"][:1])
        total += parts[-1].shape[1]
        k += 1
    joints = np.concatenate(parts, axis=1)[:, :frames]
    path = folder / "S001C001P001R001A001.skeleton"
    path.write_text(skeleton_text(joints, np.full(joints.shape[:3], 2, np.uint8), [72057594037931101]))
    return path


def measure(run: Path, source: Path, window: int, stride: int) -> dict:
    from fusion.predict.predictor import Predictor
    from fusion.predict.stream import stream

    predictor = Predictor(run)
    results, stamps = [], []
    for result in stream(predictor, str(source), window, stride):
        results.append(result)
        stamps.append(time.perf_counter())
    # steady state: from the first window (the buffer is full) to the last
    wall = stamps[-1] - stamps[0]
    steady_pose = sum(r.seconds.get("pose", 0.0) for r in results[1:])
    stages = {k: np.array([r.seconds.get(k, 0.0) for r in results]) * 1000 for k in ("decode", "pose", "transform",
                                                                                        "model")}
    total = np.array([r.latency for r in results]) * 1000
    steady = len(results) - 1
    return {"windows": len(results), "per_s": steady / wall, "per_s_no_pose": steady / max(wall - steady_pose, 1e-9),
            "stages": stages, "total": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--runs", help="folder for the trained runs (kept between invocations)")
    parser.add_argument("--only", nargs="*", choices=list(RUNS), help="measure these rows only")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on 2 shared cores, 2 threads made the small GCN 15-30x slower)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.runs or tempfile.mkdtemp(prefix="predict-latency-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"torch threads {torch.get_num_threads()}, window {args.window}, stride {args.stride}; runs in {folder}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows every stage)")
    rows = []
    for name in args.only or RUNS:
        run = train(name, folder)
        source = skeleton_source(folder) if name == "gcn3d" else VIDEO
        window = args.window if name == "gcn3d" else min(args.window, 32)  # the video has 72 frames
        rows.append((name, window, measure(run, source, window, args.stride)))
    print("\n| run | source | window / stride | windows | windows/s | windows/s (no pose) | p50 / p95 ms: "
          "decode | pose | transform | model | total |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, window, r in rows:
        cells = [f"{np.percentile(v, 50):.1f} / {np.percentile(v, 95):.1f}" for v in
                 (*r["stages"].values(), r["total"])]
        source = ".skeleton (320 frames)" if name == "gcn3d" else "1080p video (72 frames)"
        print(f"| {name} | {source} | {window} / {args.stride} | {r['windows']} | {r['per_s']:.2f} | "
              f"{r['per_s_no_pose']:.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
