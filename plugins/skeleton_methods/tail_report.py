"""Head / medium / tail accuracy of runs trained on a ``long_tailed`` split (how BRL is judged).

``python -m fusion_plugins.skeleton_methods.tail_report RUN [RUN ...]`` reads each run's ``recipe.yaml``
(the long-tailed profile: ``rho``, ``n_max``, ``class_order``) and ``summary.json`` (per-class test
accuracy), splits the classes into thirds by training count (head = most frequent) and prints a table.
Ties in count keep the profile's order, so the thirds are the same for every run of one recipe.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from fusion.errors import RecipeError
from fusion_plugins.skeleton_methods.brl import ordered_counts


def run_counts(run: Path, num_classes: int) -> np.ndarray:
    """Training samples per class of the run's ``long_tailed`` dataset."""
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    dataset = recipe["data"]["dataset"]
    if dataset.get("name") != "long_tailed":
        raise RecipeError(f"{run}/recipe.yaml: data.dataset.name is {dataset.get('name')!r}, expected 'long_tailed'")
    args = dataset.get("args") or {}
    if args.get("n_max") is None:
        raise RecipeError(f"{run}/recipe.yaml: data.dataset.args.n_max is needed to rebuild the profile")
    return ordered_counts(num_classes, int(args["n_max"]), float(args.get("rho", 100.0)), args.get("class_order"))


def group_accuracy(per_class: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    """Mean per-class accuracy over head / medium / tail thirds of the classes ranked by count."""
    ranked = np.argsort(-counts, kind="stable")
    thirds = np.array_split(ranked, 3)
    return {"head": float(per_class[thirds[0]].mean()), "medium": float(per_class[thirds[1]].mean()),
            "tail": float(per_class[thirds[2]].mean()), "all": float(per_class.mean())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    print("| run | head | medium | tail | mean class acc |\n|---|---:|---:|---:|---:|")
    for run in args.runs:
        per_class = np.asarray(json.loads((run / "summary.json").read_text())["test"]["per_class"], dtype=float)
        g = group_accuracy(per_class, run_counts(run, len(per_class)))
        print(f"| {run} | {g['head']:.3f} | {g['medium']:.3f} | {g['tail']:.3f} | {g['all']:.3f} |")


if __name__ == "__main__":
    main()
