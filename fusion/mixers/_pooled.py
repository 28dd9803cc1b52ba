"""What the baseline mixers that work on pooled (B, D) features share: modality order, checked inputs."""

from __future__ import annotations

import torch
from torch import nn

from fusion.mixers._common import check_feature_shape
from fusion.types import Features


def pooled_stack(features: dict[str, Features], masks: dict[str, torch.Tensor], order: list[str]):
    """(B, M, D_m) list and (B, M) float mask in ``order``; pooled rows of missing modalities zeroed."""
    vectors = [features[m].pooled * masks[m].to(features[m].pooled.dtype)[:, None] for m in order]
    weights = torch.stack([masks[m] for m in order], dim=1).to(vectors[0].dtype)
    return vectors, weights


def projections(dims: dict[str, int], dim: int) -> nn.ModuleDict:
    """One ``Linear(D_m -> dim)`` per modality."""
    return nn.ModuleDict({m: nn.Linear(d, dim) for m, d in sorted(dims.items())})


class PooledMixer(nn.Module):
    """Base of the pooled-feature mixers: ``order`` (sorted modalities) and :meth:`pooled`, which checks
    that every encoder returned the ``(B, D_m)`` its ``out_dim`` promised before stacking."""

    name: str

    def __init__(self, dims: dict[str, int]):
        super().__init__()
        self.dims = {m: int(d) for m, d in dims.items()}
        self.order = sorted(dims)

    def pooled(self, features: dict[str, Features], masks: dict[str, torch.Tensor]):
        """:func:`pooled_stack` of the checked features."""
        sizes: dict[str, int] = {}
        for m in self.order:
            check_feature_shape(self.name, m, "pooled", features[m].pooled, ("B", self.dims[m]), sizes)
        return pooled_stack(features, masks, self.order)
