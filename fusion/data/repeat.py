"""``repeat``: a dataset's split seen ``times`` times per epoch (MMAction2 / PYSKL ``RepeatDataset``).

Recipes that count epochs over a repeated set (BRL: 24 epochs over 5 repeats; MS-CLR: one pass per
skeleton convention) keep their epoch numbers, schedules and evaluation points. Each repeat is a
different index, so it gets its own augmentation draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion.construct import BuildContext
from fusion.data.wrapped import IndexedView, build_wrapped
from fusion.errors import RecipeError
from fusion.types import DatasetSpec


def repeat_dataset(split: str, ctx: BuildContext, dataset: dict | None = None, times: int = 1,
                   splits: Sequence[str] = ("train",)):
    """Args: ``dataset`` (the wrapped block ``{name, args}``), ``times`` (repeats per epoch) and ``splits``
    (repeated splits; others pass through)."""
    if int(times) < 1:
        raise RecipeError(f"{ctx.key}.times: {times}; expected at least 1")
    base = build_wrapped("repeat", dataset, split, ctx)
    if split not in splits or int(times) == 1:
        return base
    return IndexedView(base, np.tile(np.arange(len(base)), int(times)))


SPEC = DatasetSpec(name="repeat", factory=repeat_dataset, nested={"dataset": "dataset"},
                   doc="Another dataset's split repeated `times` per epoch (RepeatDataset).")
