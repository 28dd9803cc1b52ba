"""``fusion eval RUN_DIR``: rebuild a run's model from its resolved recipe and evaluate a checkpoint.

Weights are read from ``model.safetensors`` (no pickle); overrides may change the split, drop
modalities or add corruption, so one trained run can be measured under many conditions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from safetensors.torch import load_file

from fusion.errors import FusionError
from fusion.recipe import apply_overrides, from_dict, read_yaml
from fusion.train import checkpoint as ckpt
from fusion.train.accel import make_accelerator
from fusion.train.build import build_all, build_loader
from fusion.train.evaluate import evaluate, save_predictions


def load_weights(module, checkpoint_path: Path) -> None:
    weights = checkpoint_path / "model.safetensors"
    if not weights.is_file():
        raise FusionError(f"{checkpoint_path}: no model.safetensors in this checkpoint")
    state = load_file(str(weights))
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise FusionError(
            f"{weights}: weights do not match the recipe's model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def load_run(run_dir: Path, overrides=(), which: str | None = None, init: str = "checkpoint"):
    """(recipe, built, checkpoint path) of a finished run, with weights loaded unless ``init='random'``."""
    if not (run_dir / "recipe.yaml").is_file():
        raise FusionError(f"{run_dir} is not a run directory: no recipe.yaml")
    raw = apply_overrides(read_yaml(run_dir / "recipe.yaml"), overrides)
    source = raw.pop("source", None)
    recipe = from_dict(raw)
    recipe["source"] = source
    which = which or recipe["eval"]["checkpoint"]
    path = ckpt.find_checkpoint(run_dir, which) or ckpt.find_checkpoint(run_dir, "last")
    if path is None:
        raise FusionError(f"{run_dir}: no complete checkpoint to evaluate")
    if init not in ("checkpoint", "random"):
        raise FusionError(f"--init must be checkpoint or random, got {init!r}")
    recipe["model"]["init"] = None  # the run's own weights replace any earlier stage's
    built = build_all(recipe)
    if init == "checkpoint":
        load_weights(built.module, path)
    return recipe, built, path


def evaluate_run(run_dir: Path, which: str | None = None, overrides=(), tag: str | None = None) -> dict:
    """Evaluate a run's checkpoint under ``overrides``; results go to ``eval-TAG.json`` (TAG defaults to a time stamp)."""
    recipe, built, path = load_run(run_dir, overrides, which)
    accelerator = make_accelerator(recipe["train"]["precision"])
    loader = build_loader(recipe, built.test_set, built.collator, False, recipe["eval"]["batch_size"])
    model, loader = accelerator.prepare(built.module.model, loader)
    report, predictions = evaluate(accelerator, model, loader, built.num_classes, recipe["eval"]["clips"])
    stamp = tag or time.strftime("%Y%m%d-%H%M%S")
    out = run_dir / f"eval-{stamp}.json"
    result = {k: report[k] for k in ("top1", "top5", "mean_class_accuracy", "per_class", "count", "confusion")}
    result.update(checkpoint=str(path), overrides=list(overrides), output=str(out))
    if accelerator.is_main_process:
        out.write_text(json.dumps(result, indent=1))
        save_predictions(run_dir / f"predictions-{stamp}.npz", predictions, built.class_names)
    return result
