"""``fusion bench BENCH.yaml`` and ``fusion fuse-scores RUN...``."""

from __future__ import annotations

from pathlib import Path


def cmd_bench(args) -> int:
    from fusion.bench.matrix import load_bench, run_bench
    from fusion.bench.report import write_results

    bench = load_bench(args.bench)
    if args.out:
        bench.out = Path(args.out)
    if args.seeds:
        bench.seeds = args.seeds
    bench.overrides = [*bench.overrides, *args.overrides]
    rows = run_bench(bench)
    class_names = _class_names(bench.out)
    paths = write_results(rows, bench.out, class_names)
    print(paths["report"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _class_names(out: Path) -> list[str] | None:
    from fusion.train.evaluate import load_predictions

    for path in sorted(out.glob("*/seed-*/predictions.npz")):
        return [str(n) for n in load_predictions(path).get("class_names", [])]
    return None


def cmd_fuse_scores(args) -> int:
    import numpy as np

    from fusion.bench.fuse import fuse_scores

    result = fuse_scores([Path(p) for p in args.runs], args.weights, softmax=args.softmax)
    report = result["report"]
    print(f"fused {len(args.runs)} runs (weights {args.weights or 'equal'}): top-1 {report['top1']:.4f}  "
          f"top-5 {report['top5']:.4f}  mean-class {report['mean_class_accuracy']:.4f} on {report['count']} samples")
    if args.out:
        extra = {} if result["class_names"] is None else {"class_names": result["class_names"]}
        np.savez(args.out, scores=result["scores"], labels=result["labels"], indices=result["indices"], **extra)
        print(f"-> {args.out}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("bench", help="run a matrix of recipes x seeds x evaluation conditions; tables and plots")
    p.add_argument("bench", help="bench YAML (see fusion/bench/matrix.py)")
    p.add_argument("overrides", nargs="*", help="recipe overrides applied to every cell, e.g. train.epochs=2")
    p.add_argument("--out", help="output folder (default: the bench file's out)")
    p.add_argument("--seeds", type=int, nargs="+", help="replace the bench file's seeds")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("fuse-scores", help="late-fuse saved predictions of several runs (stream ensembles)")
    p.add_argument("runs", nargs="+", help="run directories or predictions*.npz files")
    p.add_argument("--weights", type=float, nargs="+", help="one weight per run (default: equal)")
    p.add_argument("--softmax", action="store_true", help="fuse probabilities instead of raw scores")
    p.add_argument("--out", help="write the fused predictions here (.npz)")
    p.set_defaults(func=cmd_fuse_scores)
