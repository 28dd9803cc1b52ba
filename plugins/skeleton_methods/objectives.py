"""``classify_aux``: cross-entropy plus the auxiliary losses *encoders* report (Hyper-GCN's divergence loss).

The core ``classify`` objective adds ``ModelOutput.aux['losses']``, which comes from the mixer; an
encoder's own terms sit in ``Features.aux['losses']``. This objective lifts them into the model output
(named ``<modality>.<term>``) and then runs ``classify`` unchanged.
"""

from __future__ import annotations

from fusion.objectives.classify import Classify
from fusion.types import ModelOutput


def with_encoder_losses(out: ModelOutput) -> ModelOutput:
    """``out`` with every ``features[m].aux['losses'][name]`` added to ``aux['losses']['m.name']``."""
    losses = dict(out.aux.get("losses", {}))
    for modality, features in out.features.items():
        for name, term in (features.aux.get("losses") or {}).items():
            losses[f"{modality}.{name}"] = term
    if losses:
        out.aux = {**out.aux, "losses": losses}
    return out


class ClassifyWithEncoderLosses(Classify):
    """``CE(logits, y) + Σ mixer aux losses + Σ encoder aux losses`` (args as ``classify``)."""

    def forward(self, model, batch):
        return super().forward(lambda b: with_encoder_losses(model(b)), batch)
