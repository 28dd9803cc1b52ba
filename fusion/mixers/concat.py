"""Concatenation fusion (TorchMultimodal's ConcatFusionModule): pooled features side by side."""

from __future__ import annotations

import torch
from torch import nn

from fusion.mixers._pooled import PooledMixer
from fusion.types import EVERY_MODALITY, MixerOutput, MixerSpec


class ConcatMixer(PooledMixer):
    """``fused = proj([f_a ; f_b ; ...])`` in sorted modality order; missing modalities are zeros.

    Args:
        dims: feature size per modality.
        projection: output size of a Linear + ReLU after the concatenation; 0 keeps the raw concat.
        dropout: dropout on the concatenation.
    """

    name = "concat"

    def __init__(self, dims: dict[str, int], num_classes: int, roles: dict, projection: int = 0, dropout: float = 0.0):
        super().__init__(dims)
        total = sum(dims.values())
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Sequential(nn.Linear(total, projection), nn.ReLU()) if projection else nn.Identity()
        self.out_dim = projection or total

    def forward(self, features, masks) -> MixerOutput:
        vectors, _ = self.pooled(features, masks)
        return MixerOutput(fused=self.proj(self.dropout(torch.cat(vectors, dim=1))))


SPEC = MixerSpec(
    name="concat",
    factory=ConcatMixer,
    needs={EVERY_MODALITY: frozenset({"pooled"})},
    doc="Concatenate pooled features (optionally project); missing modalities are zeros.",
)
