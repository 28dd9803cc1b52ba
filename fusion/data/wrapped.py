"""What the dataset wrappers share (``repeat``, ``labelled_subset``, ``long_tailed``): building the
wrapped block and viewing it through a list of indices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from fusion.errors import RecipeError


def build_wrapped(wrapper: str, dataset: dict | None, split: str, plugins: Sequence[str] = ()):
    """The wrapped ``{name, args}`` block built for ``split`` (its arguments checked like any recipe block);
    ``plugins`` are the recipe's ``plugins:`` when the wrapped dataset comes from one of them."""
    from fusion.model import _build
    from fusion.registry import get_registry

    if not isinstance(dataset, dict) or "name" not in dataset:
        raise RecipeError(f"data.dataset.args.dataset: {wrapper} needs the wrapped dataset block {{name, args}}")
    _, base = _build(get_registry(tuple(plugins)), "dataset", dataset, "data.dataset.args.dataset", split=split)
    return base


def dataset_labels(dataset) -> np.ndarray:
    """Labels of every sample: the dataset's ``labels`` attribute when present, else read one by one."""
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return np.asarray(labels)
    return np.asarray([int(dataset[i]["label"]) for i in range(len(dataset))])


class IndexedView(Dataset):
    """``base[indices[i]]``: a subset, a repetition or a re-balanced cut of another dataset, which keeps its
    classes, labels, per-epoch seeding and sample ids."""

    def __init__(self, base, indices):
        self.base, self.indices = base, np.asarray(indices, dtype=np.int64)
        self.num_classes = getattr(base, "num_classes", None)
        self.class_names = getattr(base, "class_names", None)
        labels = getattr(base, "labels", None)
        self.labels = None if labels is None else np.asarray(labels)[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        return self.base[int(self.indices[index])]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def sample_id(self, index: int) -> str:
        """The wrapped sample's id (for error messages): its dataset's ``sample_id`` or ``meta['id']``."""
        inner = int(self.indices[index])
        finder = getattr(self.base, "sample_id", None)
        return str(finder(inner)) if callable(finder) else str(self.base[inner]["meta"]["id"])
