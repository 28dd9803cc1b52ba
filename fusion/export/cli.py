"""``fusion export RUN --format onnx|exported-program|torchscript [--dynamic-frames] [--out FILE]``."""

from __future__ import annotations

from pathlib import Path


def cmd_export(args) -> int:
    from fusion.export import export_run

    result = export_run(Path(args.run_dir), args.format, args.out, dynamic_frames=args.dynamic_frames,
                        which=args.checkpoint, overrides=args.overrides, trust_plugins=args.trust_plugins)
    print(f"parity ({result.format} vs PyTorch):")
    for line in result.lines():
        print(f"  {line}")
    print(f"wrote {result.path} (+ {result.path.name}.json: inputs, classes, parity; {result.path.name}.recipe.yaml)")
    print(f"predict with it: fusion predict {result.path} INPUT...")
    return 0


def add_commands(sub) -> None:
    from fusion.export.exporter import FORMATS

    p = sub.add_parser("export", help="write a run's model as ONNX / ExportedProgram / TorchScript, parity-checked")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="recipe overrides, e.g. eval.split=val")
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument("--out", help="output file (default RUN/export/model.onnx|.pt2|.ts)")
    p.add_argument("--dynamic-frames", action="store_true",
                   help="keep the time axis of every input free (checked at twice the frame count)")
    p.add_argument("--checkpoint", choices=["best", "last"], default=None)
    p.add_argument("--trust-plugins", action="store_true",
                   help="import the run's recipe plugins: (code) even though you did not train this run here")
    p.set_defaults(func=cmd_export)
