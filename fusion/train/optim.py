"""Optimiser and per-step learning-rate schedule (warm-up + cosine / step / constant / plateau)."""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(module: nn.Module, weight_decay: float, decay_all: bool = False) -> list[dict]:
    """No weight decay on biases, norms and embeddings-like 1-D parameters, nor on ``no_weight_decay()`` names.

    ``decay_all`` decays every parameter, as ``torch.optim.SGD(model.parameters(), weight_decay=…)`` in the
    official ST-GCN / CTR-GCN / PYSKL / MMAction2 code (``train.optimizer.decay_all: true`` in their recipes).
    """
    if decay_all:
        return [{"params": [p for p in module.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    skip = set()
    for name, sub in module.named_modules():
        if hasattr(sub, "no_weight_decay"):
            skip |= {f"{name}.{n}" if name else n for n in sub.no_weight_decay()}
    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name in skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(module: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    decay_all = bool(cfg.get("decay_all", False))
    if hasattr(module, "param_groups"):
        groups = module.param_groups(cfg["weight_decay"], decay_all=decay_all)
    else:
        groups = param_groups(module, cfg["weight_decay"], decay_all)
    name, lr = cfg["name"], cfg["lr"]
    for group in groups:  # layer-wise lr decay and the like: a group may scale the base lr
        if "lr_scale" in group:
            group["lr"] = lr * group["lr_scale"]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"])
    betas = tuple(cfg.get("betas") or (0.9, 0.999))
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


class Plateau:
    """``ReduceLROnPlateau`` as an lr multiplier: after more than ``patience`` evaluations without a relative
    improvement of 1e-4 in the monitored value (lower is better), multiply the lr by ``factor``.

    PSUMNet steps it every epoch on the test loss (factor 0.5, patience 5). Its state is plain numbers,
    saved in the checkpoint's JSON state.
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4):
        self.factor, self.patience, self.threshold = float(factor), int(patience), float(threshold)
        self.scale, self.best, self.bad = 1.0, math.inf, 0

    def step(self, value: float) -> None:
        if value < self.best * (1 - self.threshold):
            self.best, self.bad = float(value), 0
            return
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.factor
            self.bad = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": None if math.isinf(self.best) else self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.bad = float(state["scale"]), int(state["bad"])
        self.best = math.inf if state["best"] is None else float(state["best"])


def lr_factor(step: int, total: int, warmup: int, cfg: dict) -> float:
    """The multiplier of the base lr at optimiser step ``step`` (0-based) of ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    name = cfg["name"]
    if name == "constant":
        return 1.0
    if name == "plateau":
        return cfg["plateau"].scale
    if name == "step":
        return cfg["gamma"] ** sum(step >= m for m in cfg.get("milestones_steps", []))
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = cfg.get("min_lr_ratio", 0.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_plateau(cfg: dict) -> Plateau | None:
    """The :class:`Plateau` a ``plateau`` schedule needs (the trainer feeds it the test loss), else None."""
    return Plateau(cfg.get("factor", 0.1), cfg.get("patience", 10)) if cfg["name"] == "plateau" else None


def build_schedule(optimizer, cfg: dict, steps_per_epoch: int, epochs: int, base_lr: float,
                   plateau: Plateau | None = None):
    """A LambdaLR stepped once per optimiser step; epoch-based settings are converted to steps.

    ``per_epoch: true`` holds the lr for a whole epoch, as schedulers stepped once per epoch do
    (CTR-GCN's warm-up ``lr·(e+1)/5``, CascadeFormer's ``CosineAnnealingLR(T_max=epochs)``).
    A ``plateau`` schedule multiplies the lr by ``plateau.scale`` (see :func:`make_plateau`).
    """
    cfg = dict(cfg)
    unit = steps_per_epoch if cfg.get("per_epoch") else 1  # optimiser steps per schedule tick
    ticks_per_epoch = steps_per_epoch // unit
    cfg["milestones_steps"] = [int(m * ticks_per_epoch) for m in cfg.get("milestones", [])]
    cfg["min_lr_ratio"] = cfg.get("min_lr", 0.0) / base_lr if base_lr else 0.0
    total = max(1, ticks_per_epoch * epochs)
    warmup = int(round(cfg.get("warmup_epochs", 0) * ticks_per_epoch))
    if cfg["name"] == "plateau":
        if plateau is None:
            raise ValueError("a plateau schedule needs its Plateau (make_plateau(cfg))")
        cfg["plateau"] = plateau
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s // unit, total, warmup, cfg))
