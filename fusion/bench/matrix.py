"""``fusion bench BENCH.yaml``: recipes x seeds x evaluation conditions, resumable cell by cell.

A bench file is data only (``yaml.safe_load``)::

    name: synthact_mixers
    out: runs/bench/synthact_mixers        # default: runs/bench/NAME
    seeds: [0, 1]
    overrides: [train.epochs=6]            # applied to every recipe
    recipes:
      - {name: skeleton, recipe: recipes/synthact/skeleton_stgcn.yaml}
      - {name: concat, recipe: recipes/synthact/concat.yaml, overrides: [model.mixer.args.dim=128]}
    conditions:                            # evaluation settings of each trained cell
      - {name: clean}
      - {name: drop-depth, drop: [depth]}
      - {name: frames-random-0.5, corruption: {type: random, ratio: 0.5}}

Every number is a test-split score of the validation-selected checkpoint (``best``: chosen on the
dataset's validation split, with precise BatchNorm statistics; see :mod:`fusion.data.validation`).

Each (recipe, seed) trains once into ``OUT/RECIPE/seed-S`` (a finished run has ``summary.json``;
an interrupted one resumes from its last checkpoint), then each condition is evaluated into
``eval-CONDITION.json`` there. Finished cells are skipped, so an interrupted bench is re-run with
the same command. A condition that drops a modality the recipe does not use is not applicable.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fusion.errors import RecipeError
from fusion.recipe import UniqueKeyLoader

BENCH_KEYS = {"name", "out", "seeds", "overrides", "recipes", "conditions"}
RECIPE_KEYS = {"name", "recipe", "overrides"}
CONDITION_KEYS = {"name", "drop", "corruption", "split"}


@dataclass
class Bench:
    name: str
    out: Path
    seeds: list[int]
    overrides: list[str]
    recipes: list[dict]
    conditions: list[dict] = field(default_factory=lambda: [{"name": "clean"}])


def _check_keys(where: str, block: dict, allowed: set[str]) -> None:
    if not isinstance(block, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(block).__name__}")
    unknown = set(block) - allowed
    if unknown:
        raise RecipeError(f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(allowed))}")


def load_bench(path: str | Path) -> Bench:
    """Read and validate a bench file; recipe paths are relative to the current directory."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=UniqueKeyLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read the bench file: {exc}") from exc
    _check_keys(str(path), data, BENCH_KEYS)
    if not data.get("recipes"):
        raise RecipeError(f"{path}: 'recipes' must list at least one {{name, recipe}}")
    names = set()
    for i, block in enumerate(data["recipes"]):
        _check_keys(f"{path}: recipes[{i}]", block, RECIPE_KEYS)
        if "recipe" not in block or not Path(block["recipe"]).is_file():
            raise RecipeError(f"{path}: recipes[{i}].recipe: no recipe file {block.get('recipe')!r}")
        block.setdefault("name", Path(block["recipe"]).stem)
        if block["name"] in names:
            raise RecipeError(f"{path}: recipes[{i}]: the name {block['name']!r} is used twice")
        names.add(block["name"])
    conditions = data.get("conditions") or [{"name": "clean"}]
    for i, block in enumerate(conditions):
        _check_keys(f"{path}: conditions[{i}]", block, CONDITION_KEYS)
        if "name" not in block:
            raise RecipeError(f"{path}: conditions[{i}] needs a 'name'")
    name = data.get("name") or path.stem
    return Bench(
        name=name, out=Path(data.get("out") or f"runs/bench/{name}"), seeds=list(data.get("seeds") or [0]),
        overrides=list(data.get("overrides") or []), recipes=data["recipes"], conditions=conditions,
    )  # fmt: skip


def condition_overrides(condition: dict) -> list[str]:
    """The ``fusion eval`` overrides that realise an evaluation condition."""
    out = []
    if condition.get("drop"):
        out.append(f"eval.drop={json.dumps(list(condition['drop']))}")
    if condition.get("corruption"):
        out.append(f"eval.corruption={json.dumps(condition['corruption'])}")
    if condition.get("split"):
        out.append(f"eval.split={condition['split']}")
    return out


def _applicable(condition: dict, recipe: dict) -> bool:
    modalities = set(recipe["data"]["modalities"] or recipe["model"]["encoders"])
    drop = set(condition.get("drop") or ())
    return drop <= modalities and not modalities <= drop


def train_cell(recipe_path: str, overrides: list[str], run_dir: Path) -> dict:
    """Train one cell, resuming an interrupted run; returns its summary."""
    from fusion.recipe import load_recipe
    from fusion.train.checkpoint import find_checkpoint
    from fusion.train.trainer import Trainer

    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    recipe = load_recipe(recipe_path, overrides)
    resume = find_checkpoint(run_dir, "last") is not None
    # a cell that died before its first checkpoint is started again (the old folder moved aside)
    Trainer(recipe, run_dir, resume=resume, overwrite=not resume and run_dir.exists(), progress=False).fit()
    return json.loads(summary_path.read_text())


def run_bench(bench: Bench, log=print) -> list[dict]:
    """Run every missing cell; return one row per (recipe, seed, condition)."""
    from fusion.recipe import load_recipe
    from fusion.train.eval_run import evaluate_run

    rows = []
    for block in bench.recipes:
        for seed in bench.seeds:
            overrides = [*bench.overrides, *(block.get("overrides") or []), f"train.seed={seed}"]
            run_dir = bench.out / block["name"] / f"seed-{seed}"
            tic = time.time()
            done = (run_dir / "summary.json").is_file()
            try:
                summary = train_cell(block["recipe"], overrides, run_dir)
            except Exception as exc:  # one broken cell must not lose the others; re-run to retry it
                log(f"{block['name']} seed {seed}: FAILED ({type(exc).__name__}: {exc}); continuing")
                rows.extend({"recipe": block["name"], "seed": seed, "condition": c["name"], "top1": None, "top5": None,
                             "mean_class_accuracy": None, "per_class": None, "error": str(exc)}
                            for c in bench.conditions)
                continue
            test = summary.get("test", {})
            if "checkpoint" not in test:  # trained before best was selected on validation (issue 15)
                log(f"{block['name']} seed {seed}: warning: {run_dir} was trained before validation-selected "
                    "checkpoints; its numbers are test-selected. Rerun with a new --out to measure it honestly")
            log(f"{block['name']} seed {seed}: {'done before' if done else f'trained in {time.time() - tic:.0f} s'}, "
                + (summary.get("result") or f"test top-1 {test.get('top1', float('nan')):.4f}"))
            recipe = load_recipe(block["recipe"], overrides)
            cost = _cost(recipe, run_dir)
            for condition in bench.conditions:
                row = {"recipe": block["name"], "seed": seed, "condition": condition["name"], **cost,
                       "corruption_ratio": (condition.get("corruption") or {}).get("ratio"),
                       "split": condition.get("split") or "test", "checkpoint": None}
                if not _applicable(condition, recipe):
                    rows.append({**row, "top1": None, "top5": None, "mean_class_accuracy": None, "per_class": None})
                    continue
                result_path = run_dir / f"eval-{condition['name']}.json"
                if result_path.is_file():
                    result = json.loads(result_path.read_text())
                else:
                    result = evaluate_run(run_dir, "best", condition_overrides(condition), tag=condition["name"])
                    log(f"  {condition['name']}: {result.get('result') or result['top1']}")
                rows.append({**row, **{k: result[k] for k in ("top1", "top5", "mean_class_accuracy", "per_class")},
                             "checkpoint": result.get("checkpoint_label")})
    return rows


def _cost(recipe: dict, run_dir: Path) -> dict:
    """Parameters and FLOPs per sample of a cell, measured once and cached in the run directory."""
    path = run_dir / "cost.json"
    if path.is_file():
        return json.loads(path.read_text())
    from fusion.bench.cost import measure_cost

    try:
        cost = measure_cost(recipe)
    except Exception as exc:  # a model FlopCounterMode cannot trace still gets its accuracy reported
        print(f"  cost not measured: {type(exc).__name__}: {exc}")
        return {"params": None, "gflops": None}
    path.write_text(json.dumps(cost))
    return cost
