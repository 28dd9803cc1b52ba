"""Attention-gated fusion (TorchMultimodal's AttentionFusionModule), mask-aware."""

from __future__ import annotations

import torch
from torch import nn

from fusion.mixers._pooled import PooledMixer, projections
from fusion.types import EVERY_MODALITY, MixerOutput, MixerSpec


class AttentionGateMixer(PooledMixer):
    """A softmax gate over modalities, computed from their concatenation, weighs projected features.

    Missing modalities get gate logit -inf, so the gate renormalises over the present ones.
    """

    name = "attention_gate"

    def __init__(self, dims: dict[str, int], num_classes: int, roles: dict, dim: int | None = None):
        super().__init__(dims)
        dim = dim or min(dims.values())
        self.gate = nn.Linear(sum(dims.values()), len(self.order))
        self.proj = projections(dims, dim)
        self.out_dim = dim

    def forward(self, features, masks) -> MixerOutput:
        vectors, present = self.pooled(features, masks)
        scores = self.gate(torch.cat(vectors, 1)).masked_fill(present == 0, float("-inf"))
        gate = torch.nan_to_num(scores.softmax(-1), nan=0.0)
        projected = torch.stack([self.proj[m](v) for m, v in zip(self.order, vectors)], 1)
        return MixerOutput(fused=(gate[..., None] * projected).sum(1), aux={"gate": gate})


SPEC = MixerSpec(
    name="attention_gate",
    factory=AttentionGateMixer,
    needs={EVERY_MODALITY: frozenset({"pooled"})},
    doc="Softmax gate over modalities (from their concatenation) weighing projected features.",
)
