"""``fusion predict RUN INPUT... | --stream SOURCE``: top-k classes for a user's files, JSON/CSV, overlays."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from fusion.errors import FusionError


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="classify your own files, videos or a live stream with a trained run")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="*", help="skeleton files (.skeleton, PKU-MMD .txt, .pkl, .npy, Kinetics .json), "
                                              "depth / point-cloud folders, videos; files of one sample share a name")
    p.add_argument("--top-k", type=int, default=5, help="classes printed per sample (default 5)")
    p.add_argument("--out", help="folder for predictions.json / predictions.csv (and overlays)")
    p.add_argument("--overlay", action="store_true",
                   help="also write OUT/ID.mp4: the input with the skeleton and the predicted label (per window when "
                        "streaming; a stream's first minute)")
    p.add_argument("--overlay-format", choices=["mp4", "gif"], default="mp4")
    p.add_argument("--format", help="input format name (default: guessed; see fusion list input_formats)")
    p.add_argument("--checkpoint", choices=["best", "last"], default=None)
    p.add_argument("--clips", type=int, help="test clips averaged (default: the recipe's eval.clips)")
    p.add_argument("--pose-estimator", help="for videos given to a pose run (default: the first installed)")
    p.add_argument("--pose-model", help="local model file for estimators that need one")
    p.add_argument("--trust-plugins", action="store_true", help="import the run's recipe plugins (runs made by others)")
    p.add_argument("--stream", metavar="SOURCE", help="a video or skeleton file read as a live stream, or a camera index")
    p.add_argument("--window", type=int, help="stream: frames per window (default: the run's frames, else 64)")
    p.add_argument("--stride", type=int, default=8, help="stream: one prediction every STRIDE frames (default 8)")
    p.add_argument("--smooth", type=int, default=4, help="stream: windows averaged for the reported label")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from fusion.predict.predictor import Predictor

    if args.top_k < 1 or args.stride < 1 or args.smooth < 1:
        raise FusionError("--top-k, --stride and --smooth must be at least 1")
    if bool(args.stream) == bool(args.inputs):
        raise FusionError("give input files, or --stream SOURCE, not both and not neither")
    predictor = Predictor(args.run_dir, args.checkpoint, args.trust_plugins, args.clips)
    if args.stream:
        return _stream(predictor, args)
    from fusion.predict.inputs import (
        POSE_MODALITIES,
        add_poses,
        input_format_for,
        pose_estimator,
        pose_targets,
        read_inputs,
    )

    prefer = predictor.recipe["data"]["dataset"]["name"]
    videos = [p for p in args.inputs if "rgb" in input_format_for(predictor.registry, p, args.format, prefer).modalities]
    may_need_pose = videos and any(m in predictor.modalities for m in POSE_MODALITIES)
    frames = None if may_need_pose else predictor.frames  # the estimator sees every frame, transforms sample later
    samples = read_inputs(predictor.registry, args.inputs, frames, predictor.max_bodies, predictor.points, args.format,
                          prefer=prefer)
    if any(pose_targets(predictor.modalities, s) for s in samples):
        estimator = pose_estimator(predictor.registry, args.pose_estimator, predictor.pose_layout(),
                                   predictor.max_bodies, args.pose_model)
        if "skeleton" in predictor.modalities:
            print("note: the run reads 'skeleton'; videos give it 2D poses (x, y, score) from the pose estimator, "
                  "right for runs trained on 2D poses (PySKL HRNet pickles), wrong for 3D-trained runs", file=sys.stderr)
        for sample in samples:
            estimator.reset()
            add_poses([sample], estimator, predictor.modalities)
    predictions = predictor(samples)
    for prediction in predictions:
        top = "  ".join(f"{name} {p:.3f}" for name, p in prediction.top(args.top_k))
        print(f"{prediction.id}: {top}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_predictions(out, predictions, args.top_k, predictor)
        if args.overlay:
            from fusion.predict.overlay import write_overlay

            for sample, prediction in zip(samples, predictions):
                path = write_overlay(out, sample, [(None, prediction)], args.overlay_format)
                print(f"overlay -> {path}")
    elif args.overlay:
        raise FusionError("--overlay needs --out DIR")
    return 0


def write_predictions(out: Path, predictions, top_k: int, predictor) -> None:
    rows = [{"id": p.id, "source": p.meta.get("source"), "top": [{"class": n, "probability": round(v, 6)} for n, v in
                                                                  p.top(top_k)],
             "probabilities": [round(float(v), 6) for v in p.probabilities], "seconds": p.meta.get("seconds", {}) | p.seconds}
            for p in predictions]
    document = {"run": str(predictor.run_dir), "checkpoint": str(predictor.checkpoint), "clips": predictor.clips,
                "class_names": predictor.class_names, "predictions": rows}
    (out / "predictions.json").write_text(json.dumps(document, indent=1, default=str))
    with open(out / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "rank", "class", "probability"])
        for p in predictions:
            for rank, (name, value) in enumerate(p.top(top_k), start=1):
                writer.writerow([p.id, rank, name, f"{value:.6f}"])
    print(f"predictions -> {out / 'predictions.json'}, {out / 'predictions.csv'}")


def _stream(predictor, args) -> int:
    import numpy as np

    from fusion.predict.predictor import Prediction
    from fusion.predict.stream import PERSON_FIRST, stream

    if args.overlay and not args.out:
        raise FusionError("--overlay needs --out DIR")
    window = args.window or predictor.frames or 64
    names = predictor.class_names
    kept: list | None = [] if args.overlay else None
    rows, windows = [], []
    for result in stream(predictor, args.stream, window, args.stride, args.smooth, args.pose_estimator,
                         args.pose_model, kept):
        best, smooth = int(result.probabilities.argmax()), int(result.smoothed.argmax())
        stages = " ".join(f"{k} {v * 1000:.1f}" for k, v in result.seconds.items())
        print(f"frame {result.end_frame}: {names[smooth]} {result.smoothed[smooth]:.3f} (window: {names[best]} "
              f"{result.probabilities[best]:.3f})  latency {result.latency * 1000:.1f} ms [{stages}]")
        sys.stdout.flush()
        smoothed = Prediction(f"frame{result.end_frame}", result.smoothed, names)
        windows.append((result.end_frame, smoothed))
        rows.append({"end_frame": result.end_frame, "top": [{"class": n, "probability": round(p, 6)} for n, p in
                                                            smoothed.top(args.top_k)],
                     "window_top1": {"class": names[best], "probability": round(float(result.probabilities[best]), 6)},
                     "seconds": {k: round(v, 6) for k, v in result.seconds.items()}})
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "stream.json").write_text(json.dumps({"run": str(predictor.run_dir), "source": args.stream,
                                                     "window": window, "stride": args.stride, "smooth": args.smooth,
                                                     "windows": rows}, indent=1))
        print(f"windows -> {out / 'stream.json'}")
        if kept and windows:
            from fusion.predict.overlay import write_overlay

            keys = [k for k in kept[0] if k != "meta"]
            sample = {k: np.concatenate([f[k] for f in kept], axis=1 if k in PERSON_FIRST else 0) for k in keys}
            sample["meta"] = {**kept[-1]["meta"], "id": f"{Path(args.stream).stem}-stream"}
            print(f"overlay -> {write_overlay(out, sample, windows, args.overlay_format)}")
    return 0
