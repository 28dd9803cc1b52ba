"""``fusion data synthact``: write SynthAct in the real datasets' file formats (added through ``fusion_add_commands``)."""

from __future__ import annotations

import sys


def cmd_synthact(args) -> int:
    from fusion_plugins.synthact.config import SynthActConfig
    from fusion_plugins.synthact.writers import WRITABLE, write_synthact

    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip()) if args.modalities else WRITABLE
    cfg = SynthActConfig(
        subjects=args.subjects, val_subjects=args.val_subjects, classes=args.classes, frames=args.frames, size=args.size,
        repetitions=args.repetitions, seed=args.seed, points=args.points,
        second_person=args.second_person, nuisance=args.nuisance,
    )  # fmt: skip
    report = write_synthact(args.out, cfg, modalities, cache_dir=args.cache_dir, fps=args.fps,
                            progress=lambda message: print(message, file=sys.stderr))
    files = ", ".join(f"{name} {count} ({report[name + '_s']:.1f} s)" for name, count in report["files"].items())
    print(f"wrote {report['samples']} samples to {args.out} in {report['seconds']:.1f} s "
          f"(generation or cache {report['generate_s']:.1f} s); files: {files}")
    return 0


def add_commands(data_commands) -> None:
    """Add ``synthact`` to the ``fusion data`` verbs."""
    p = data_commands.add_parser("synthact", help="write SynthAct in the real formats (.skeleton, depth PNG, mp4, PySKL pickle)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--subjects", type=int, default=10)
    p.add_argument("--val-subjects", type=int, default=0,
                   help="extra performers generated for validation, numbered after --subjects (default 0: the "
                        "formats' readers hold out training performers for validation)")
    p.add_argument("--classes", type=int, default=12)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", type=int, default=64, help="image width and height in pixels (even)")
    p.add_argument("--repetitions", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--points", type=int, default=256, help="points per frame of the cached point cloud")
    p.add_argument("--second-person", action="store_true", help="add an idle bystander (M = 2)")
    p.add_argument("--nuisance", type=float, default=1.0, help="noise level (0 = clean, 1 = default)")
    p.add_argument("--modalities", help="comma-separated subset of skeleton,pose2d,depth,rgb (default: all)")
    p.add_argument("--fps", type=int, default=30, help="video frame rate")
    p.add_argument("--cache-dir", help="generation cache (default $FUSION_CACHE/synthact)")
    p.set_defaults(func=cmd_synthact)
