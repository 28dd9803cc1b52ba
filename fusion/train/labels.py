"""What a number means: its split, its checkpoint and the evaluation conditions, in one line.

Every accuracy Fusion prints or writes is labelled (``val top-1 0.95``, ``test top-1 0.92 @best(val,
epoch 7) (corruption random 0.5)``), so a result read out of context still says what it measured.
Also the checks that turn silently ignored evaluation settings into errors naming the key.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np

from fusion.errors import RecipeError


def describe_conditions(eval_cfg: dict) -> str:
    """``"corruption random 0.5; drop depth"``, or ``""`` for clean data."""
    parts = []
    corruption = eval_cfg.get("corruption")
    if corruption:
        words = [str(corruption.get("type", "?"))]
        words += [f"{v}" if k == "ratio" else f"{k}={v}" for k, v in corruption.items() if k not in ("type",)]
        parts.append("corruption " + " ".join(words))
    if eval_cfg.get("drop"):
        parts.append("drop " + ", ".join(eval_cfg["drop"]))
    if (eval_cfg.get("clips") or 1) > 1:
        parts.append(f"{eval_cfg['clips']} clips")
    return "; ".join(parts)


def checkpoint_label(name: str, epoch: int | None = None, validated: bool = True) -> str:
    """``best(val, epoch 7)``, ``last`` or ``last (epoch 8)``."""
    if name == "best" and validated:
        return f"best(val, epoch {epoch})" if epoch else "best(val)"
    return f"last (epoch {epoch})" if epoch else "last"


def result_line(split: str, report: dict, checkpoint: str | None = None, conditions: str = "") -> str:
    """``test top-1 0.9167  top-5 1.0000 @best(val, epoch 2) (corruption random 0.5)``."""
    line = f"{split} top-1 {report['top1']:.4f}  top-5 {report['top5']:.4f}"
    if checkpoint:
        line += f" @{checkpoint}"
    if conditions:
        line += f" ({conditions})"
    return line


def warn_one_class(split: str, scores, class_names: list[str] | None = None, stream=None) -> str | None:
    """Warn (and return the warning) when every prediction on ``split`` is one class: a collapsed model,
    or BatchNorm statistics that lag the weights (``eval.precise_bn``)."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or len(scores) < 2 or scores.shape[1] < 2:
        return None
    predicted = np.unique(scores.argmax(1))
    if len(predicted) != 1:
        return None
    label = int(predicted[0])
    name = f" ({class_names[label]})" if class_names and label < len(class_names) else ""
    message = (f"warning: every {split} prediction ({len(scores)} samples) is class {label}{name}; the model "
               "has collapsed or its BatchNorm statistics lag the weights (keep eval.precise_bn on)")
    print(message, file=stream or sys.stderr)
    return message


def check_eval_conditions(recipe: dict, modalities: list[str], axes: Mapping[str, int]) -> None:
    """``eval.drop`` and ``eval.corruption`` must name modalities the run has (a typo used to give the
    clean score); ``eval.drop`` may not remove every modality. ``axes``: the modalities' time axes
    (:func:`fusion.data.corruption.time_axes`)."""
    known = list(modalities)
    for name in recipe["eval"].get("drop") or []:
        if name not in known:
            raise RecipeError(f"eval.drop: {name!r} is not a modality of this run; its modalities: {', '.join(known)}")
    if known and set(recipe["eval"].get("drop") or ()) >= set(known):
        raise RecipeError(f"eval.drop: {recipe['eval']['drop']} removes every modality of this run; keep at least one")
    corruption = recipe["eval"].get("corruption") or {}
    if not corruption:
        return
    targets = corruption.get("modalities")
    targets = [targets] if isinstance(targets, str) else list(targets or [])
    for name in targets:
        if name not in known:
            raise RecipeError(f"eval.corruption.modalities: {name!r} is not a modality of this run; its modalities: "
                              f"{', '.join(known)}")
    if not [m for m in targets or known if m in axes]:
        raise RecipeError(f"eval.corruption: none of this run's modalities ({', '.join(known)}) has a time axis "
                          f"to corrupt (known: {', '.join(axes)})")


def check_warmup(train_cfg: dict) -> None:
    """A warm-up as long as the run never reaches the learning rate it warms up to."""
    warmup, epochs = train_cfg["schedule"].get("warmup_epochs") or 0, train_cfg["epochs"]
    if warmup and warmup >= epochs:
        raise RecipeError(f"train.schedule.warmup_epochs: {warmup} is not shorter than train.epochs={epochs}; the run "
                          "would end before reaching train.optimizer.lr (lower warmup_epochs or add epochs)")
