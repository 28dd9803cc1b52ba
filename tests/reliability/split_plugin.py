"""A test plugin: the ``sized`` dataset, whose train and test splits have the sizes a test asks for (0 included)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from fusion import DatasetSpec, hookimpl


class SizedDataset(Dataset):
    """``train_size`` / ``test_size`` toy skeleton samples of 2 classes."""

    modalities = ("skeleton",)

    def __init__(self, split: str = "train", train_size: int = 8, test_size: int = 8):
        self.size = train_size if split == "train" else test_size
        self.num_classes, self.class_names = 2, ["a", "b"]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        skeleton = np.full((1, 4, 5, 3), index % 2, np.float32)
        return {"skeleton": skeleton, "label": index % 2, "meta": {"id": f"s{index}"}}


@hookimpl
def fusion_add_datasets():
    return [DatasetSpec(name="sized", factory=SizedDataset, modalities=("skeleton",), doc="Splits of chosen sizes.")]
