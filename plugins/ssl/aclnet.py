"""ACLNet, Affinity Contrastive Learning (arXiv 2601.16694): a *supervised* auxiliary contrastive loss.

Only the abstract and README are public, so the loss below is a proposed realisation of the three
published ideas ([inferred]; every choice is an argument):

1. **Affinity and superclasses** [paper idea; mechanism proposed]: class prototypes ``c_y`` are EMA
   means of the unit embeddings of each class; the class affinity is ``A_ab = cos(c_a, c_b)``;
   superclasses are the clusters of a spherical k-means over the prototypes (``num_superclasses``),
   refreshed at every epoch start from ``warmup_epochs`` on (before: one superclass per class).
2. **Dynamic temperature per superclass** [paper idea; formula proposed]: a superclass whose classes
   are close (mean pairwise affinity ``ā_s``, 0 for singletons) is harder and gets a sharper
   temperature ``τ_s = τ_max − (τ_max − τ_min)·clip(ā_s, 0, 1)``.
3. **Margin for hard positives** [paper idea; formula proposed]: a sample whose own prototype is not
   its most similar one (a hard / anomalous positive) has its positive cosine lowered by ``margin``
   (``hard_only: false`` applies it to every sample, CosFace-like).

The contrast is sample-to-prototype: ``L_ACL = CE([cos(z, c_1) … cos(z, c_K)] / τ_{s(y)}, y)`` with the
margin on the positive, negatives from other classes; within the anchor's superclass the negative
logits are up-weighted by ``1 + affinity_weight·A_{y,j}`` (harder negatives). Total loss =
``CE(logits, y) + λ·L_ACL`` (λ = ``weight``). The embedding ``z`` is the model's fused feature
(the pooled encoder feature with the concat mixer), L2-normalised; prototypes never get gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import RecipeError
from fusion.types import Batch, ObjectiveOutput, ObjectiveSpec, batch_field

from .contrastive import spherical_kmeans


def superclass_temperatures(affinity: torch.Tensor, superclass: torch.Tensor, tau_min: float,
                            tau_max: float) -> torch.Tensor:
    """(S,) temperatures: ``τ_max − (τ_max − τ_min)·clip(ā_s, 0, 1)``, ``ā_s`` = mean off-diagonal affinity in s."""
    count = int(superclass.max()) + 1
    member = F.one_hot(superclass, count).to(affinity.dtype)  # K, S
    off = affinity * (1 - torch.eye(len(affinity), device=affinity.device, dtype=affinity.dtype))
    pair_sum = torch.einsum("as,ab,bs->s", member, off, member)
    size = member.sum(0)
    mean = pair_sum / (size * (size - 1)).clamp_min(1)
    return tau_max - (tau_max - tau_min) * mean.clamp(0, 1)


class AffinityContrastive(nn.Module):
    """Classification + ACLNet's affinity contrastive auxiliary loss (supervised).

    Args:
        embed_dim: size of the fused feature (the encoder's out_dim with the concat mixer).
        num_classes: number of classes K.
        weight: λ of ``L_ACL``.
        num_superclasses: clusters of the class prototypes.
        tau_min, tau_max: temperature range over superclasses.
        margin: cosine margin of hard positives.
        hard_only: apply the margin only to hard positives (else to all).
        affinity_weight: extra weight of same-superclass negatives, ``1 + w·A``.
        momentum: EMA momentum of the class prototypes.
        warmup_epochs: epochs before superclasses are formed (one superclass per class until then).
        label_smoothing: of the classification CE.
        seed: seed of the superclass clustering.
    """

    #: The registry name, used in error messages.
    objective_name = "aclnet"

    def __init__(self, embed_dim: int, num_classes: int, weight: float = 0.1, num_superclasses: int = 4,
                 tau_min: float = 0.05, tau_max: float = 0.2, margin: float = 0.2, hard_only: bool = True,
                 affinity_weight: float = 1.0, momentum: float = 0.9, warmup_epochs: int = 1,
                 label_smoothing: float = 0.0, seed: int = 0):
        super().__init__()
        if num_superclasses > num_classes:
            raise RecipeError(f"objective aclnet, argument num_superclasses: {num_superclasses} superclasses for "
                              f"{num_classes} classes (need num_superclasses <= num_classes)")
        self.weight, self.num_superclasses = float(weight), int(num_superclasses)
        self.tau_min, self.tau_max, self.margin, self.hard_only = float(tau_min), float(tau_max), float(margin), hard_only
        self.affinity_weight, self.momentum, self.warmup_epochs = float(affinity_weight), float(momentum), int(warmup_epochs)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("prototypes", torch.zeros(num_classes, embed_dim))
        self.register_buffer("superclass", torch.arange(num_classes))
        self.register_buffer("temperatures", torch.full((num_classes,), self.tau_max))  # per class: τ of its superclass
        self.generator = torch.Generator().manual_seed(seed)

    def affinity(self) -> torch.Tensor:
        """(K, K) cosine affinity of the class prototypes."""
        c = F.normalize(self.prototypes, dim=1)
        return c @ c.t()

    @torch.no_grad()
    def refresh_superclasses(self) -> None:
        """Cluster the prototypes into superclasses and set each superclass's temperature."""
        seen = self.prototypes.norm(dim=1) > 0
        if int(seen.sum()) < self.num_superclasses:
            return
        centres = spherical_kmeans(self.prototypes[seen], self.num_superclasses, generator=self.generator)
        self.superclass.copy_((F.normalize(self.prototypes, dim=1) @ centres.t()).argmax(1))
        per_superclass = superclass_temperatures(self.affinity(), self.superclass, self.tau_min, self.tau_max)
        self.temperatures.copy_(per_superclass[self.superclass])

    @torch.no_grad()
    def update_prototypes(self, z: torch.Tensor, label: torch.Tensor) -> None:
        """EMA of each present class's mean unit embedding (a class's first batch sets it)."""
        k = self.prototypes.shape[0]
        sums = torch.zeros_like(self.prototypes).index_add_(0, label, z.detach().to(self.prototypes.dtype))
        counts = torch.bincount(label, minlength=k).to(z.device)
        present = counts > 0
        means = F.normalize(sums[present], dim=1)
        fresh = self.prototypes[present].norm(dim=1, keepdim=True) == 0
        self.prototypes[present] = torch.where(fresh, means, self.momentum * self.prototypes[present]
                                               + (1 - self.momentum) * means)

    def contrastive(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``L_ACL`` of unit embeddings ``z`` (B, D) against the current prototypes."""
        cos = z @ F.normalize(self.prototypes, dim=1).t()  # B, K
        positive = cos.gather(1, label[:, None])
        hardest_negative = cos.scatter(1, label[:, None], -2.0).amax(1, keepdim=True)
        hard = (positive < hardest_negative) if self.hard_only else torch.ones_like(positive, dtype=torch.bool)
        cos = cos.scatter(1, label[:, None], positive - self.margin * hard.to(cos.dtype))
        same = self.superclass[label][:, None] == self.superclass[None, :]
        scale = 1 + self.affinity_weight * self.affinity()[label].clamp_min(0) * same.to(cos.dtype)
        scale = scale.scatter(1, label[:, None], 1.0)
        logits = cos / self.temperatures[label][:, None]
        logits = logits + torch.log(scale)  # weights the negatives' exponentials by ``scale``
        unseen = self.prototypes.norm(dim=1) == 0  # classes not met yet take no part
        return F.cross_entropy(logits.masked_fill(unseen[None], float("-inf")), label)

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        out = model(batch)
        label = batch_field(batch, "label", self.objective_name)
        ce = F.cross_entropy(out.logits.float(), label, label_smoothing=self.label_smoothing)
        embedding = out.fused if out.fused is not None else next(iter(out.features.values())).pooled
        z = F.normalize(embedding.float(), dim=1)
        logs = {"ce": ce.detach()}
        loss = ce
        if self.training:
            self.update_prototypes(z, label)
        if self.weight > 0:
            term = self.contrastive(z, label)
            loss = loss + self.weight * term
            logs["acl"] = term.detach()
        return loss, ObjectiveOutput(logits=out.logits, logs=logs)

    def on_epoch_start(self, model, epoch: int) -> None:
        if epoch >= self.warmup_epochs:
            self.refresh_superclasses()


SPEC = ObjectiveSpec(name="aclnet", factory=AffinityContrastive,
                     doc="ACLNet (supervised): CE + affinity contrastive loss with superclass temperatures, margin.",
                     batch=("label",))
