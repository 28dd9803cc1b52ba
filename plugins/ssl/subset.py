"""``labelled_subset``: a dataset restricted to a labelled fraction or to some classes (semi-supervised, few-shot).

Wraps any registered dataset. On ``subset_split`` it keeps a random (MAMP) or class-balanced (AimCLR
family) fraction chosen by :func:`fusion.train.protocols.labelled_subset`, and/or drops
``exclude_classes`` (e.g. to pre-train without the few-shot classes); other splits pass through.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from fusion.errors import RecipeError
from fusion.types import DatasetSpec


def dataset_labels(dataset) -> np.ndarray:
    """Labels of every sample: the dataset's ``labels`` attribute when present, else read one by one."""
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return np.asarray(labels)
    return np.asarray([int(dataset[i]["label"]) for i in range(len(dataset))])


class LabelledSubset(Dataset):
    def __init__(self, base, indices: np.ndarray):
        self.base, self.indices = base, np.asarray(indices, dtype=np.int64)
        self.num_classes = getattr(base, "num_classes", None)
        self.class_names = getattr(base, "class_names", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        return self.base[int(self.indices[index])]


def labelled_subset_dataset(split: str, dataset: dict | None = None, fraction: float = 1.0, balanced: bool = False,
                            seed: int = 0, subset_split: str = "train", exclude_classes: list[int] | None = None,
                            plugins: list[str] = ()):
    """Args: ``dataset`` (the wrapped block ``{name, args}``), ``fraction``, ``balanced``, ``seed``,
    ``subset_split`` (the split that is reduced), ``exclude_classes`` (dropped from that split) and
    ``plugins`` (the recipe's ``plugins:``, when the wrapped dataset comes from one of them)."""
    from fusion.model import _build
    from fusion.registry import get_registry
    from fusion.train.protocols import labelled_subset

    if not isinstance(dataset, dict) or "name" not in dataset:
        raise RecipeError("data.dataset.args.dataset: labelled_subset needs the wrapped dataset block {name, args}")
    _, base = _build(get_registry(tuple(plugins)), "dataset", dataset, "data.dataset.args.dataset", split=split)
    if split != subset_split:
        return base
    labels = dataset_labels(base)
    keep = np.arange(len(labels))
    if exclude_classes:
        keep = keep[~np.isin(labels, exclude_classes)]
    if fraction < 1.0:
        keep = keep[labelled_subset(labels[keep], fraction, balanced, seed)]
    return LabelledSubset(base, keep)


SPEC = DatasetSpec(name="labelled_subset", factory=labelled_subset_dataset,
                   doc="A labelled fraction (random or class-balanced) or class subset of another dataset's split.")
