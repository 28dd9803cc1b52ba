"""Supervised classification: cross-entropy on the model's logits (+ auxiliary losses it reports)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.types import LOGITS_PER_MODALITY, LOSSES, Batch, ObjectiveOutput, ObjectiveSpec, batch_field


class Classify(nn.Module):
    """``loss = CE(logits, label) + Σ aux['losses']`` (models report extra terms there, e.g. divergence).

    Args:
        label_smoothing: as in ``F.cross_entropy``.
        branch_weight: weight of a CE on each entry of ``aux['logits_per_modality']`` (per-modality
            classifiers of late fusion and two-stream mixers); 0 disables it.
    """

    #: The registry name, used in error messages.
    objective_name = "classify"

    def __init__(self, label_smoothing: float = 0.0, branch_weight: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.branch_weight = branch_weight

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        out = model(batch)
        label = batch_field(batch, "label", self.objective_name)
        loss = F.cross_entropy(out.logits.float(), label, label_smoothing=self.label_smoothing)
        logs = {"ce": loss.detach()}
        if self.branch_weight:
            for name, logits in LOGITS_PER_MODALITY.read(out.aux, f"{self.objective_name} (branch_weight > 0)").items():
                present = batch.get("mask", {}).get(name)
                if present is None:
                    present = torch.ones_like(label, dtype=torch.bool)
                # a branch is only taught on samples that have its modality (zeros are not evidence)
                per_sample = F.cross_entropy(logits.float(), label, label_smoothing=self.label_smoothing, reduction="none")
                term = (per_sample * present).sum() / present.sum().clamp_min(1)
                loss = loss + self.branch_weight * term
                logs[f"ce_{name}"] = term.detach()
        for name, term in LOSSES.get(out.aux, {}).items():
            loss = loss + term
            logs[name] = term.detach()
        return loss, ObjectiveOutput(logits=out.logits, logs=logs)


SPEC = ObjectiveSpec(name="classify", factory=Classify, doc="Cross-entropy on logits plus the model's auxiliary losses.",
                     batch=("label", "mask"), aux=(LOSSES, LOGITS_PER_MODALITY))
