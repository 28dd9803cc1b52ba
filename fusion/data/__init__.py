"""Dataset wrapping, collate with modality masks, epoch-seeded sampling."""

from fusion.data.collate import Collator
from fusion.data.dataset import RecipeDataset
from fusion.data.sampler import EpochSampler

__all__ = ["Collator", "RecipeDataset", "EpochSampler"]
