"""A test plugin: a small skeleton dataset with one unreadable sample and one sample holding NaN joints."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from fusion import DatasetSpec, hookimpl
from fusion.errors import DataError


class FlakyDataset(Dataset):
    """``size`` samples of class ``i % 3``; item ``bad`` raises a DataError, item ``nan`` has a NaN joint."""

    modalities = ("skeleton",)

    def __init__(self, split: str = "train", size: int = 6, bad: int | None = 2, nan: int | None = 4):
        self.size, self.bad, self.nan = size, bad, nan
        self.num_classes, self.class_names = 3, ["a", "b", "c"]
        self.labels = np.arange(size) % 3
        self.prefix = split

    def __len__(self) -> int:
        return self.size

    def sample_id(self, index: int) -> str:
        return f"{self.prefix}_clip{index:02d}"

    def __getitem__(self, index: int) -> dict:
        if index == self.bad:
            raise DataError(f"{self.sample_id(index)}.skeleton: truncated: expected 25 joint lines, got 7")
        skeleton = np.zeros((1, 4, 25, 3), np.float32)
        if index == self.nan:
            skeleton[0, 1, 3, 0] = np.nan
        return {"skeleton": skeleton, "label": int(self.labels[index]), "meta": {"id": self.sample_id(index)}}


@hookimpl
def fusion_add_datasets():
    return [DatasetSpec(name="flaky", factory=FlakyDataset, modalities=("skeleton",), doc="Test data with bad samples.")]
