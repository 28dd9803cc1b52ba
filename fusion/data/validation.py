"""The validation split: what selects ``best`` (and drives a plateau schedule); the test split is only reported.

``data.val_split`` says where validation samples come from:

- ``auto`` (default): the dataset's own validation split when it declares one (a ``validation_split``
  attribute naming it, e.g. SynthAct's held-out subject or camera); otherwise a seeded hold-out of
  ``data.val_fraction`` of the training split's groups (``validation_groups()``: NTU's performers,
  PKU-MMD's videos...), so no subject is in both; otherwise of its samples. Held-out samples leave
  the training set.
- ``none``: no validation; nothing is selected and the last epoch is the one reported.
- any other word: that split of the dataset (an official validation split); training is unchanged.

The hold-out depends on ``data.val_seed`` only (not ``train.seed``), so runs with several seeds
validate on the same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fusion.data.wrapped import IndexedView
from fusion.errors import RecipeError

AUTO, NONE = "auto", "none"


@dataclass
class ValidationPlan:
    """The training dataset (possibly a view without the held-out samples), the validation dataset
    (None without validation) and one sentence saying where validation comes from."""

    train: object
    val: object | None
    rule: str


def hold_out(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the held-out samples: a seeded choice of ``round(fraction * groups)`` groups
    (at least one, and at least one group left to train on)."""
    unique = np.unique(groups)
    if len(unique) < 2:
        return np.zeros(len(groups), bool)
    count = min(len(unique) - 1, max(1, int(round(fraction * len(unique)))))
    chosen = np.random.default_rng([int(seed), 0x7A1]).choice(unique, count, replace=False)
    return np.isin(groups, chosen)


def dataset_groups(dataset) -> tuple[np.ndarray, str] | None:
    """``(group of every item, what a group is)`` from the dataset's ``validation_groups()``, looking
    through wrappers (repeat, subsets) so a repeated sample stays on one side; None if it names none."""
    finder = getattr(dataset, "validation_groups", None)
    if callable(finder):
        found = finder()
        if found is not None:
            groups, what = found
            return np.asarray(groups), str(what)
    if isinstance(dataset, IndexedView):
        inner = dataset_groups(dataset.base)
        if inner is not None:
            return inner[0][dataset.indices], inner[1]
    return None


def native_split(dataset) -> str | None:
    """The dataset's own validation split (its ``validation_split``), looking through wrappers."""
    own = getattr(dataset, "validation_split", None)
    if own:
        return str(own)
    return native_split(dataset.base) if isinstance(dataset, IndexedView) else None


def sample_ids(dataset) -> np.ndarray:
    """Each item's index in the innermost dataset, so a repeated sample is held out with its copies."""
    if isinstance(dataset, IndexedView):
        return sample_ids(dataset.base)[dataset.indices]
    return np.arange(len(dataset))


def check_fraction(fraction) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise RecipeError(f"data.val_fraction: {fraction!r}; expected a number between 0 and 1 (e.g. 0.1)")
    return float(fraction)


def plan_validation(data: dict, train, build_split: Callable[[str], object]) -> ValidationPlan:
    """Split off validation for ``train`` (the built training split) as ``data`` (the recipe's data
    section) asks; ``build_split(name)`` builds another split of the same dataset."""
    choice = data.get("val_split", AUTO)
    if choice == NONE:
        return ValidationPlan(train, None, "no validation split (data.val_split: none): the last epoch is reported")
    if choice != AUTO:
        return ValidationPlan(train, build_split(choice), f"the dataset's {choice!r} split (data.val_split)")
    own = native_split(train)
    if own:  # wrappers (repeat, labelled_subset, long_tailed) pass a non-training split through
        return ValidationPlan(train, build_split(own), f"the dataset's own {own!r} split")
    fraction, seed = check_fraction(data.get("val_fraction", 0.1)), int(data.get("val_seed", 0))
    found = dataset_groups(train)
    groups, what = found if found is not None else (sample_ids(train), "samples")
    mask = hold_out(groups, fraction, seed)
    if not mask.any() and what != "samples":  # one subject only: hold out samples instead
        groups, what = sample_ids(train), "samples"
        mask = hold_out(groups, fraction, seed)
    if not mask.any():
        return ValidationPlan(train, None, f"no validation: {len(train)} training sample(s) cannot be split")
    held = len(np.unique(groups[mask]))
    rule = (f"{held} of {len(np.unique(groups))} training {what} held out (data.val_fraction {fraction:g}, "
            f"data.val_seed {seed})")
    validation = build_split_view(build_split, data["train_split"], np.flatnonzero(mask))
    return ValidationPlan(IndexedView(train, np.flatnonzero(~mask)), validation, rule)


def build_split_view(build_split: Callable[[str], object], split: str, indices: np.ndarray) -> IndexedView:
    """The held-out items of a second copy of the training split, so that the training set's epoch
    (random clip sampling) never changes what validation sees."""
    return IndexedView(build_split(split), indices)
