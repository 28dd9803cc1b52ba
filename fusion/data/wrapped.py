"""What the dataset wrappers share (``repeat``, ``labelled_subset``, ``long_tailed``): building the
wrapped block and viewing it through a list of indices."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from fusion.construct import BuildContext, create_dataset
from fusion.errors import RecipeError


def build_wrapped(wrapper: str, dataset: dict | None, split: str, ctx: BuildContext | None):
    """The wrapped ``{name, args}`` block built for ``split`` with the recipe's registry (``ctx``), so a
    dataset from the recipe's ``plugins:`` can be wrapped; its arguments are checked like any block's."""
    if ctx is None:
        raise RecipeError(f"{wrapper}: build it with fusion.construct.build, which passes the recipe's registry as ctx")
    if not isinstance(dataset, dict) or "name" not in dataset:
        raise RecipeError(f"{ctx.key or 'data.dataset.args'}.dataset: {wrapper} needs the wrapped dataset block "
                          "{name, args}")
    return create_dataset(dataset, ctx.at("dataset"), split)


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
