"""Value ranges of the recipe's numeric hyperparameters, checked at recipe load (after the type checks).

A batch size of 0 or a NaN learning rate is reported naming its key before anything is built,
instead of surfacing as a traceback from a DataLoader or an optimiser in the middle of a run.
"""

from __future__ import annotations

import math
from typing import Any

from fusion.errors import RecipeError

#: dotted key -> (lowest, highest, lowest allowed itself, highest allowed itself); None: unbounded.
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "model.num_classes": (1, None, True, True),
    "train.seed": (0, 2**32 - 1, True, True),  # what numpy and torch accept as a seed
    "train.epochs": (1, None, True, True),
    "train.batch_size": (1, None, True, True),
    "train.accumulate": (1, None, True, True),
    "train.eval_every": (1, None, True, True),
    "train.log_every": (1, None, True, True),
    "train.checkpoint_every_steps": (0, None, True, True),
    "train.max_steps": (0, None, True, True),
    "train.clip_grad": (0, None, False, True),
    "train.optimizer.lr": (0, None, True, True),
    "train.optimizer.momentum": (0, 1, True, False),
    "train.optimizer.weight_decay": (0, None, True, True),
    "train.schedule.warmup_epochs": (0, None, True, True),
    "train.schedule.gamma": (0, None, False, True),
    "train.schedule.min_lr": (0, None, True, True),
    "train.schedule.factor": (0, 1, False, False),
    "train.schedule.patience": (0, None, True, True),
    "data.num_workers": (0, None, True, True),
    "data.modality_dropout": (0, 1, True, False),
    "eval.batch_size": (1, None, True, True),
}


def lookup(recipe: dict, dotted: str) -> Any:
    """The value at ``dotted`` (``train.optimizer.lr``) in a nested recipe dict; None where a key is absent."""
    node: Any = recipe
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _interval(low, high, low_in, high_in) -> str:
    if high is None:
        return f"{'at least' if low_in else 'greater than'} {low}"
    return f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def check_number(key: str, value: Any, low, high, low_in: bool, high_in: bool) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return  # absent, or a type error the schema reports
    ok = math.isfinite(value)
    ok = ok and (low is None or value > low or (low_in and value == low))
    ok = ok and (high is None or value < high or (high_in and value == high))
    if not ok:
        raise RecipeError(f"{key}: {value!r} is out of range; expected a finite number {_interval(low, high, low_in, high_in)}")


def check_ranges(recipe: dict) -> None:
    """Raise :class:`RecipeError` naming the first hyperparameter outside its range (or malformed betas/milestones)."""
    for key, bounds in RANGES.items():
        check_number(key, lookup(recipe, key), *bounds)
    betas = lookup(recipe, "train.optimizer.betas")
    if betas is not None:
        if (not isinstance(betas, list) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
            raise RecipeError(f"train.optimizer.betas: {betas!r}; expected two numbers in [0, 1), e.g. [0.9, 0.999]")
    milestones = lookup(recipe, "train.schedule.milestones")
    if milestones is not None:
        numbers = isinstance(milestones, list) and all(
            isinstance(m, (int, float)) and not isinstance(m, bool) and math.isfinite(m) and m >= 0 for m in milestones)
        if not numbers or any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise RecipeError(f"train.schedule.milestones: {milestones!r}; expected increasing epoch numbers >= 0, "
                              "e.g. [30, 40]")
