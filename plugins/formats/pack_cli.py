"""``fusion data pack``: a recipe's splits written as memory-mapped arrays (read back by the ``packed`` dataset);
added to ``fusion data`` through ``fusion_add_commands``."""

from __future__ import annotations

import sys


def cmd_pack(args) -> int:
    from pathlib import Path

    from fusion.data.cli import build_split, load_data_recipe, recipe_modalities, recipe_splits
    from fusion.train.console import bar, progress_enabled
    from fusion_plugins.formats.packed import PACKABLE, write_pack

    recipe, registry = load_data_recipe(args.recipe, args.overrides)
    total = 0.0
    for split in args.split or recipe_splits(recipe):
        dataset = build_split(recipe, registry, split)
        modalities = [m for m in recipe_modalities(recipe, dataset) if m in PACKABLE]
        if getattr(dataset, "random_sampling", False):
            print(f"warning: the {split} split samples frames at random; the pack keeps one draw (epoch 0). "
                  "Pack full sequences (no num_frames) and sample with transforms instead", file=sys.stderr)
        progress = bar(total=len(dataset), desc=f"pack {split}", enabled=progress_enabled())
        source = {"recipe": str(args.recipe), "overrides": list(args.overrides), "split": split,
                  "dataset": recipe["data"]["dataset"]["name"]}
        info = write_pack(dataset, Path(args.out) / split, modalities, args.dtype, source,
                          progress=lambda done, count, bar=progress: bar.update(1))
        progress.close()
        size = sum((Path(args.out) / split / f"{name}.bin").stat().st_size for name in info["streams"]) / 2**20
        total += info["seconds"]
        print(f"{split}: packed {info['samples']} samples ({', '.join(modalities)} as {args.dtype}; {size:.1f} MB) "
              f"in {info['seconds']:.1f} s -> {Path(args.out) / split}")
    print(f"packed in {total:.1f} s; read it with data.dataset={{name: packed, args: {{path: {args.out}}}}}")
    return 0


def add_commands(data_commands) -> None:
    """Add ``pack`` to the ``fusion data`` verbs."""
    p = data_commands.add_parser("pack", help="write a recipe's splits into memory-mapped array files (the packed dataset)")
    p.add_argument("recipe", help="a recipe (or a recipe with only a data: section)")
    p.add_argument("overrides", nargs="*", help="key.sub=value (YAML values)")
    p.add_argument("--out", required=True, help="output folder (one subfolder per split)")
    p.add_argument("--split", action="append", help="split to pack (repeatable; default: the recipe's train and test)")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="stored precision (float16 halves the size; float32 is exact)")
    p.set_defaults(func=cmd_pack)
