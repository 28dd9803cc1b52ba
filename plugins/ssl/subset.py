"""``labelled_subset``: a dataset restricted to a labelled fraction or to some classes (semi-supervised, few-shot).

Wraps any registered dataset. On ``subset_split`` it keeps a random (MAMP) or class-balanced (AimCLR
family) fraction chosen by :func:`fusion_plugins.ssl.protocols.labelled_subset`, and/or drops
``exclude_classes`` (e.g. to pre-train without the few-shot classes); other splits pass through.
"""

from __future__ import annotations

import numpy as np

from fusion.construct import BuildContext
from fusion.data.wrapped import IndexedView, build_wrapped, dataset_labels
from fusion.types import DatasetSpec


def labelled_subset_dataset(split: str, dataset: dict | None = None, fraction: float = 1.0, balanced: bool = False,
                            seed: int = 0, subset_split: str = "train", exclude_classes: list[int] | None = None,
                            ctx: BuildContext | None = None):
    """Args: ``dataset`` (the wrapped block ``{name, args}``), ``fraction``, ``balanced``, ``seed``,
    ``subset_split`` (the split that is reduced) and ``exclude_classes`` (dropped from that split)."""
    from fusion_plugins.ssl.protocols import labelled_subset

    base = build_wrapped("labelled_subset", dataset, split, ctx)
    if split != subset_split:
        return base
    labels = dataset_labels(base)
    keep = np.arange(len(labels))
    if exclude_classes:
        keep = keep[~np.isin(labels, exclude_classes)]
    if fraction < 1.0:
        keep = keep[labelled_subset(labels[keep], fraction, balanced, seed)]
    return IndexedView(base, keep)


SPEC = DatasetSpec(name="labelled_subset", factory=labelled_subset_dataset, nested={"dataset": "dataset"},
                   doc="A labelled fraction (random or class-balanced) or class subset of another dataset's split.")
