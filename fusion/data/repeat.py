"""``repeat``: a dataset's split seen ``times`` times per epoch (MMAction2 / PYSKL ``RepeatDataset``).

Recipes that count epochs over a repeated set (BRL: 24 epochs over 5 repeats; MS-CLR: one pass per
skeleton convention) keep their epoch numbers, schedules and evaluation points. Each repeat is a
different index, so it gets its own augmentation draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from fusion.errors import RecipeError
from fusion.types import DatasetSpec


class Repeated(Dataset):
    """``base`` indexed ``times`` over: item ``i`` is ``base[i % len(base)]``."""

    def __init__(self, base, times: int):
        self.base, self.times = base, int(times)
        self.num_classes = getattr(base, "num_classes", None)
        self.class_names = getattr(base, "class_names", None)
        labels = getattr(base, "labels", None)
        self.labels = None if labels is None else np.tile(np.asarray(labels), self.times)

    def __len__(self) -> int:
        return len(self.base) * self.times

    def __getitem__(self, index: int) -> dict:
        return self.base[int(index) % len(self.base)]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def sample_id(self, index: int) -> str:
        finder = getattr(self.base, "sample_id", None)
        inner = int(index) % len(self.base)
        return str(finder(inner)) if callable(finder) else f"#{inner}"


def repeat_dataset(split: str, dataset: dict | None = None, times: int = 1, splits: Sequence[str] = ("train",),
                   plugins: Sequence[str] = ()):
    """Args: ``dataset`` (the wrapped block ``{name, args}``), ``times`` (repeats per epoch), ``splits``
    (repeated splits; others pass through) and ``plugins`` (when the wrapped dataset comes from one)."""
    from fusion.model import _build
    from fusion.registry import get_registry

    if not isinstance(dataset, dict) or "name" not in dataset:
        raise RecipeError("data.dataset.args.dataset: repeat needs the wrapped dataset block {name, args}")
    if int(times) < 1:
        raise RecipeError(f"data.dataset.args.times: {times}; expected at least 1")
    _, base = _build(get_registry(tuple(plugins)), "dataset", dataset, "data.dataset.args.dataset", split=split)
    return Repeated(base, times) if split in splits and int(times) > 1 else base


SPEC = DatasetSpec(name="repeat", factory=repeat_dataset,
                   doc="Another dataset's split repeated `times` per epoch (RepeatDataset).")
