"""Late fusion: one classifier per modality, logits combined by a weighted sum over present modalities."""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import RecipeError
from fusion.mixers._pooled import PooledMixer
from fusion.types import EVERY_MODALITY, LOGITS_PER_MODALITY, MixerOutput, MixerSpec


class LateMixer(PooledMixer):
    """``logits = Σ_m w_m mask_m z_m / Σ_m w_m mask_m`` with ``z_m = Linear_m(f_m)``.

    Args:
        weights: per-modality score weights (default 1 each), as in score-level ensembles.
        softmax: combine probabilities' logs (log-softmax) instead of raw logits.
    """

    name = "late"

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        roles: dict,
        weights: dict[str, float] | None = None,
        softmax: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__(dims)
        self.classifiers = nn.ModuleDict({m: nn.Linear(dims[m], num_classes) for m in self.order})
        given = weights or {}
        unknown = set(given) - set(self.order)
        if unknown:
            raise RecipeError(
                f"late: model.mixer.args.weights names {', '.join(sorted(unknown))}, which the model has no encoder for; "
                f"expected weights for {', '.join(self.order)}"
            )
        self.register_buffer("weights", torch.tensor([float(given.get(m, 1.0)) for m in self.order]))
        self.softmax = softmax
        self.dropout = nn.Dropout(dropout)
        self.out_dim = None

    def forward(self, features, masks) -> MixerOutput:
        vectors, present = self.pooled(features, masks)
        logits = torch.stack([self.classifiers[m](self.dropout(v)) for m, v in zip(self.order, vectors)], 1)
        if self.softmax:
            logits = logits.log_softmax(-1)
        w = present * self.weights
        fused_logits = (logits * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp_min(1e-6)
        per_modality = {m: logits[:, i] for i, m in enumerate(self.order)}
        return MixerOutput(fused=None, logits=fused_logits, aux={LOGITS_PER_MODALITY.name: per_modality})


SPEC = MixerSpec(
    name="late",
    factory=LateMixer,
    aux=(LOGITS_PER_MODALITY,),
    needs={EVERY_MODALITY: frozenset({"pooled"})},
    doc="A classifier per modality; weighted sum of logits over the modalities present.",
)
