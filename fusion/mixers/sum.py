"""Sum fusion: project each modality to one size and add the present ones."""

from __future__ import annotations

import torch

from fusion.mixers._pooled import PooledMixer, projections
from fusion.types import EVERY_MODALITY, MixerOutput, MixerSpec


class SumMixer(PooledMixer):
    """``fused = Σ_m mask_m · W_m f_m`` (or the mean over present modalities with ``mean=True``)."""

    name = "sum"

    def __init__(self, dims: dict[str, int], num_classes: int, roles: dict, dim: int = 256, mean: bool = True):
        super().__init__(dims)
        self.proj = projections(dims, dim)
        self.mean = mean
        self.out_dim = dim

    def forward(self, features, masks) -> MixerOutput:
        vectors, weights = self.pooled(features, masks)
        projected = torch.stack([self.proj[m](v) for m, v in zip(self.order, vectors)], dim=1)
        fused = (projected * weights[..., None]).sum(1)
        if self.mean:
            fused = fused / weights.sum(1, keepdim=True).clamp_min(1.0)
        return MixerOutput(fused=fused)


SPEC = MixerSpec(
    name="sum",
    factory=SumMixer,
    needs={EVERY_MODALITY: frozenset({"pooled"})},
    doc="Project each modality to one size and sum (or average) the present ones.",
)
