"""Benchmark subcommands of ``fusion``; :func:`add_commands` registers each one's parser and handler."""

from __future__ import annotations

import json


def cmd_profile(args) -> int:
    from fusion.bench.profile import format_report, parse_shape, profile_recipe
    from fusion.recipe import load_recipe, validate
    from fusion.train.build import registry_for

    recipe = load_recipe(args.recipe, args.overrides)
    validate(recipe, registry_for(recipe))
    shapes = dict(parse_shape(text) for text in args.shape or ())
    result = profile_recipe(recipe, batch_size=args.batch, shapes=shapes or None, num_classes=args.num_classes,
                            runs=args.runs, warmup=args.warmup, device=args.device)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0


def _add_profile(sub) -> None:
    p = sub.add_parser("profile", help="parameters, FLOPs, speed and memory of a recipe's model")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", help="key.sub=value (YAML values)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--batch", type=int, default=None, help="samples per step (default train.batch_size)")
    p.add_argument("--shape", action="append", metavar="MODALITY=CxTx...",
                   help="profile on random inputs of this per-sample shape instead of the recipe's data (repeatable)")
    p.add_argument("--num-classes", type=int, default=None, help="classes when --shape replaces the data")
    p.add_argument("--runs", type=int, default=5, help="timed repetitions (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed repetitions before timing")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available)")
    p.set_defaults(func=cmd_profile)


def add_commands(sub) -> None:
    """Register the benchmark subcommands on ``fusion``'s subparsers."""
    _add_profile(sub)
