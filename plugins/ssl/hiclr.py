"""HiCLR, Hierarchical Consistent Contrastive Learning (Zhang et al., AAAI 2023).

Follows the official ``net/hiclr.py`` and ``processor/pretrain_hiclr.py``. Four views of a clip come
from ``ssl.views`` with ``growing: true`` (sets: basic, –, strong, –): ``v1``, ``v2`` basic (temporal
reflect crop + shear 0.5), ``v3`` basic + strong (flip, rotation, noise, blur, axis mask), ``v4`` the
same strength, then the joint mask below. ``q = f_q(v1)``, ``k = f_k(v2)`` (EMA), ``q1 = f_q(v3)``,
``q2 = f_q(mask(v4))``, all unit vectors; logits ``z, z1, z2`` over ``[k, queue] / τ``.

- ``L_info = CE(z, 0)``; from ``mining_epoch`` (150) the multi-positive form with the key plus the union
  of the three branches' top-``topk`` queue neighbours (AimCLR's mining).
- Hierarchical one-directional consistency: ``L_h1 = H(sg(softmax z), softmax z1)``,
  ``L_h2 = H(sg(softmax z1), softmax z2)``: each weaker branch teaches the next stronger one and
  receives no gradient from it.
- ``L = L_info + (L_h1 + L_h2) / 2``.
- Joint mask: per frame ``int(V·ratio)`` joints (ratio 0.1 for GCNs), one pattern for the batch,
  replaced by a learnable scalar ``mask_param``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.types import ObjectiveSpec

from .contrastive import (
    MomentumContrast,
    distribution_consistency,
    moco_logits,
    multi_positive_nce,
    topk_neighbour_mask,
)
from .masking import frame_joint_mask


def apply_joint_mask(x: torch.Tensor, mask: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Replace the joints ``mask`` (T, V) marks in ``x`` (B, C, T, V, M) by ``value`` (gradient flows to it)."""
    return torch.where(mask[None, None, :, :, None], value.to(x.dtype), x)


class HiCLR(MomentumContrast):
    """HiCLR objective over four views stacked by ``ssl.views`` (basic, basic, strong, strong).

    Args:
        encoder_dim: the encoder's pooled size (ST-GCN hidden_dim 256).
        feature_dim, queue_size, momentum, temperature, mlp: MoCo (128, 32768, 0.999, 0.07, True).
        mask_ratio: joint-mask ratio per frame (0.1 GCN, 0.2 transformer).
        mining_epoch: first (0-based) epoch of nearest-neighbour multi-positive mining (150).
        topk: neighbours mined per branch (1).
        hierarchical: add the consistency terms (False: plain MoCo on v1/v2 = ``L_info`` alone).
        seed: seed of the joint-mask draws.
    """

    #: The registry name, used in error messages.
    objective_name = "hiclr"

    def __init__(self, encoder_dim: int = 256, feature_dim: int = 128, queue_size: int = 32768,
                 momentum: float = 0.999, temperature: float = 0.07, mlp: bool = True, mask_ratio: float = 0.1,
                 mining_epoch: int = 150, topk: int = 1, hierarchical: bool = True, seed: int = 0,
                 modality: str = "skeleton", base_lr: float | None = None):
        super().__init__(encoder_dim, feature_dim, queue_size, momentum, temperature, mlp, num_views=4,
                         modality=modality, base_lr=base_lr)
        self.mask_ratio, self.mining_epoch, self.topk = float(mask_ratio), int(mining_epoch), int(topk)
        self.hierarchical = bool(hierarchical)
        self.mask_param = nn.Parameter(torch.zeros(1))
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0

    @property
    def mining(self) -> bool:
        return self.epoch >= self.mining_epoch

    def pretext_loss(self, model, views, batch):
        basic_q, basic_k, strong, strong_masked = views
        q = self.query(model, basic_q)
        k = self.keys(model, basic_k)
        z = moco_logits(q, k, self.queue.bank, self.temperature)
        logs = {}
        if self.hierarchical:
            mask = frame_joint_mask(strong_masked.shape[2], strong_masked.shape[3], self.mask_ratio,
                                    generator=self.generator, device=strong_masked.device)
            z1 = moco_logits(self.query(model, strong), k, self.queue.bank, self.temperature)
            z2 = moco_logits(self.query(model, apply_joint_mask(strong_masked, mask, self.mask_param)), k,
                             self.queue.bank, self.temperature)
            branches = [z, z1, z2]
        else:
            branches = [z]
        if self.mining:
            info = multi_positive_nce(z, topk_neighbour_mask(branches, self.topk))
        else:
            info = F.cross_entropy(z, torch.zeros(len(q), dtype=torch.long, device=q.device))
        loss = info
        logs["info"] = info.detach()
        if self.hierarchical:
            h1, h2 = distribution_consistency(z, z1), distribution_consistency(z1, z2)
            loss = loss + (h1 + h2) / 2
            logs.update(h1=h1.detach(), h2=h2.detach())
        self.enqueue(k)
        return loss, logs

    def on_epoch_start(self, model, epoch: int) -> None:
        self.epoch = epoch


SPEC = ObjectiveSpec(name="hiclr", factory=HiCLR,
                     doc="HiCLR (AAAI'23): MoCo with growing-strength views and one-directional consistency.",
                     batch=("<modality>",))
