"""``fusion eval RUN_DIR``: rebuild a run's model from its resolved recipe and evaluate a checkpoint.

Weights are read from ``model.safetensors`` (no pickle); overrides may change the split, drop
modalities or add corruption, so one trained run can be measured under many conditions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from safetensors.torch import load_file

from fusion.data.corruption import time_axes
from fusion.errors import FusionError, first_line
from fusion.recipe import apply_overrides, from_dict, parse_override, read_yaml
from fusion.train import checkpoint as ckpt
from fusion.train.accel import make_accelerator
from fusion.train.build import build_all, build_dataset, build_loader, require_samples
from fusion.train.evaluate import evaluate, save_predictions
from fusion.train.labels import (
    check_eval_conditions,
    checkpoint_label,
    describe_conditions,
    result_line,
    warn_one_class,
)
from fusion.train.rundir import atomic_path, atomic_write
from fusion.train.threads import apply_threads
from fusion.train.trust import check_plugins


def load_weights(module, checkpoint_path: Path) -> None:
    weights = checkpoint_path / "model.safetensors"
    if not weights.is_file():
        raise FusionError(f"{checkpoint_path}: no model.safetensors in this checkpoint")
    try:
        state = load_file(str(weights))
    except Exception as exc:  # SafetensorError on a truncated or damaged file
        raise FusionError(f"{weights} is damaged or truncated ({first_line(exc)})") from None
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc)[:200])
        raise FusionError(f"{weights}: weights do not match the recipe's model ({detail})") from None
    if missing or unexpected:
        raise FusionError(
            f"{weights}: weights do not match the recipe's model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def read_run_recipe(run_dir: Path, overrides=(), trust_plugins: bool = False, recipe_file: Path | None = None) -> dict:
    """A run's recipe with ``overrides`` for evaluation or prediction (``fusion eval``, ``fusion predict``).

    Its ``plugins:`` import code, so a run not trained by this user needs ``trust_plugins`` (:mod:`fusion.train.trust`).
    ``recipe_file`` (default ``RUN/recipe.yaml``) is where it lies, e.g. the copy beside an exported model.
    """
    run_dir = Path(run_dir)
    recipe_file = Path(recipe_file) if recipe_file else run_dir / "recipe.yaml"
    if not recipe_file.is_file():
        raise FusionError(f"{run_dir} is not a run directory: no {recipe_file.name}")
    raw = read_yaml(recipe_file)
    if not any(parse_override(text)[0] == ["plugins"] for text in overrides):  # an override's list is the user's
        check_plugins(run_dir, raw.get("plugins") if isinstance(raw.get("plugins"), list) else [], trust_plugins,
                      recipe_file=recipe_file)
    raw = apply_overrides(raw, overrides)
    source = raw.pop("source", None)
    recipe = from_dict(raw)
    recipe["source"] = source
    return recipe


def describe_checkpoint(path: Path) -> str:
    """``best(val, epoch 7)`` or ``last (epoch 8)`` from a checkpoint's saved state."""
    try:
        state = ckpt.read_state(path)
    except (OSError, ValueError, FusionError):  # a damaged trainer_state.json: the weights still evaluate
        return path.name.removeprefix(".old-")
    name = path.name.removeprefix(".old-")
    return checkpoint_label(name, state.get("best_epoch") if name == "best" else state.get("epoch"))


def load_run(run_dir: Path, overrides=(), which: str | None = None, init: str = "checkpoint",
             trust_plugins: bool = False):
    """(recipe, built, checkpoint path) of a finished run, with weights loaded unless ``init='random'``."""
    recipe = read_run_recipe(run_dir, overrides, trust_plugins)
    which = which or recipe["eval"]["checkpoint"]
    path = ckpt.find_checkpoint(run_dir, which) or ckpt.find_checkpoint(run_dir, "last")
    if path is None:
        raise FusionError(f"{run_dir}: no complete checkpoint to evaluate")
    if init not in ("checkpoint", "random"):
        raise FusionError(f"--init must be checkpoint or random, got {init!r}")
    recipe["model"]["init"] = None  # the run's own weights replace any earlier stage's
    built = build_all(recipe)
    check_eval_conditions(recipe, built.test_set.modalities, time_axes(built.registry))
    require_samples(built.test_set, "test", recipe["eval"]["split"] or recipe["data"]["test_split"])
    if init == "checkpoint":
        load_weights(built.module, path)
    return recipe, built, path


def evaluate_run(run_dir: Path, which: str | None = None, overrides=(), tag: str | None = None,
                 trust_plugins: bool = False) -> dict:
    """Evaluate a run's checkpoint under ``overrides``; results go to ``eval-TAG.json`` (TAG defaults to a time stamp)."""
    recipe, built, path = load_run(run_dir, overrides, which, trust_plugins=trust_plugins)
    if getattr(built.module.objective, "pretext_only", False):
        raise FusionError(f"{run_dir} trained a pretext task only (objective {recipe['objective']['name']}): its "
                          f"classifier never trained; measure the encoder with fusion eval {run_dir} --protocol knn "
                          "(or linear)")
    apply_threads(recipe["train"].get("threads"))  # the same thread policy as training
    accelerator = make_accelerator(recipe["train"]["precision"])
    dataset = built.test_set
    if recipe["eval"]["split"] == "val" and built.val_set is not None:  # the run's own validation samples
        dataset = build_dataset(recipe, built.registry, "test", base=built.val_set.base, drop=recipe["eval"]["drop"])
    loader = build_loader(recipe, dataset, built.collator, False, recipe["eval"]["batch_size"])
    model, loader = accelerator.prepare(built.module.model, loader)
    report, predictions = evaluate(accelerator, model, loader, built.num_classes, recipe["eval"]["clips"],
                                   built.metrics)
    stamp = tag or time.strftime("%Y%m%d-%H%M%S")
    out = run_dir / f"eval-{stamp}.json"
    result = {k: report[k] for k in ("top1", "top5", "mean_class_accuracy", "per_class", "count", "confusion", "skipped")}
    split = recipe["eval"]["split"] or recipe["data"]["test_split"]
    label, conditions = describe_checkpoint(path), describe_conditions(recipe["eval"])
    result.update(checkpoint=str(path), overrides=list(overrides), output=str(out), split=split,
                  checkpoint_label=label, conditions=conditions, result=result_line(split, report, label, conditions))
    if accelerator.is_main_process:
        warn_one_class(split, predictions["scores"], built.class_names)
    if accelerator.is_main_process:
        atomic_write(out, json.dumps(result, indent=1))
        with atomic_path(run_dir / f"predictions-{stamp}.npz") as tmp:
            save_predictions(tmp, predictions, built.class_names)
    return result
