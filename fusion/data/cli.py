"""``fusion data``: synthact | check | pack | show | stats — write, scan, pack and look at datasets.

``check``, ``show`` and ``stats`` take any recipe (or a dataset-only recipe: a ``data:`` section
without a model) plus ``key=value`` overrides, and build its datasets as training would.
"""

from __future__ import annotations

import json
import time
from collections import Counter

from fusion.errors import DataError, RecipeError

# ------------------------------------------------------------------------------------------------
# recipes


def load_data_recipe(path: str, overrides: list[str]) -> tuple[dict, object]:
    """The recipe and its registry; a recipe without ``model.encoders`` is accepted (data only)."""
    from fusion.recipe import check_component, load_recipe
    from fusion.train.build import registry_for

    try:
        recipe = load_recipe(path, overrides)
    except RecipeError as exc:
        if not str(exc).startswith("model.encoders:"):
            raise
        # validation checks the encoders last, so everything else is valid: a dataset-only recipe
        recipe = load_recipe(path, [*overrides, "model.encoders={data_only: {name: none}}"])
        recipe["model"]["encoders"] = {}
    registry = registry_for(recipe)
    check_component("data.dataset", recipe["data"]["dataset"], "dataset", registry)
    return recipe, registry


def recipe_splits(recipe: dict) -> list[str]:
    """The splits a run reads: the training split and the evaluation split."""
    data = recipe["data"]
    return list(dict.fromkeys([data["train_split"], recipe["eval"].get("split") or data["test_split"]]))


def recipe_modalities(recipe: dict, dataset=None) -> list[str]:
    """The recipe's modalities, else its encoders', else everything the dataset declares."""
    named = recipe["data"]["modalities"] or list(recipe["model"]["encoders"] or ())
    if named:
        return list(named)
    base = getattr(dataset, "base", dataset)
    return list(getattr(base, "modalities", None) or getattr(base, "provides", None) or ())


def build_split(recipe: dict, registry, split: str):
    from fusion.train.build import build_base_dataset

    return build_base_dataset(recipe, registry, split)


# ------------------------------------------------------------------------------------------------
# handlers


def cmd_check(args) -> int:
    from fusion.data.check import check_splits

    recipe, registry = load_data_recipe(args.recipe, args.overrides)
    splits = args.split or recipe_splits(recipe)
    start = time.perf_counter()
    reports = check_splits(lambda split: build_split(recipe, registry, split), splits)
    bad, classes = 0, Counter()
    for report in reports:
        status = "ok" if report.ok else f"{len(report.problems)} bad"
        print(f"{report.split}: {report.samples} samples, {status}")
        for name, message in report.problems:
            print(f"  {name}: {message}")
        bad += len(report.problems)
        classes.update(report.counts())
    counts = "; ".join(f"{name}: {count}" for name, count in classes.most_common())
    print(f"checked {sum(r.samples for r in reports)} samples in {time.perf_counter() - start:.1f} s: "
          + ("all good" if not bad else f"{bad} bad ({counts})"))
    return 1 if bad else 0


def cmd_show(args) -> int:
    from fusion.data.show import sample_title, save_sample

    recipe, registry = load_data_recipe(args.recipe, args.overrides)
    split = args.split or recipe["data"]["train_split"]
    dataset = build_split(recipe, registry, split)
    if not 0 <= args.index < len(dataset):
        raise DataError(f"--index {args.index} is outside the {split} split's {len(dataset)} samples "
                        f"(0 to {len(dataset) - 1})")
    sample = dataset[args.index]
    wanted = set(recipe_modalities(recipe, dataset)) | {"label", "meta"}
    if args.all_modalities:
        wanted |= set(sample)
    sample = {k: v for k, v in sample.items() if k in wanted}
    title = f"{split}[{args.index}]  " + sample_title(sample, getattr(dataset, "class_names", None))
    out = save_sample(sample, args.out, registry, frame=args.frame, title=title, fps=args.fps)
    print(f"wrote {out}")
    return 0


def cmd_stats(args) -> int:
    from fusion.data.stats import format_stats, split_stats, stats_json

    recipe, registry = load_data_recipe(args.recipe, args.overrides)
    stats = []
    for split in args.split or recipe_splits(recipe):
        dataset = build_split(recipe, registry, split)
        stats.append(split_stats(dataset, split, recipe_modalities(recipe, dataset), recipe["model"]["num_classes"]))
    print(json.dumps(stats_json(stats), indent=1) if args.json else format_stats(stats))
    return 0


# ------------------------------------------------------------------------------------------------
# parser


def _recipe_arguments(parser) -> None:
    parser.add_argument("recipe", help="a recipe (or a recipe with only a data: section)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value (YAML values), e.g. data.dataset.args.size=32")


def add_commands(subparsers) -> None:
    """Add ``fusion data`` and its verbs; returns the verbs' subparsers (plugins add theirs through
    ``fusion_add_commands``, e.g. ``fusion data synthact``)."""
    data = subparsers.add_parser("data", help="check, show, count and pack a recipe's data (plugins add writers)")
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("check", help="read every sample of a recipe's splits; list every bad file (exit 1 if any)")
    _recipe_arguments(p)
    p.add_argument("--split", action="append", help="split to scan (repeatable; default: the recipe's train and test)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("show", help="draw one sample's modalities side by side (.png frame or .gif clip)")
    _recipe_arguments(p)
    p.add_argument("--index", type=int, default=0, help="sample index within the split")
    p.add_argument("--out", required=True, help="output .png or .gif")
    p.add_argument("--split", help="split (default: the recipe's training split)")
    p.add_argument("--frame", type=int, help="frame of a .png (default: the middle one)")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of a .gif")
    p.add_argument("--all-modalities", action="store_true", help="draw everything the sample has, not only the recipe's modalities")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("stats", help="class counts per split and modality availability")
    _recipe_arguments(p)
    p.add_argument("--split", action="append", help="split (repeatable; default: the recipe's train and test)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_stats)
    return sub
