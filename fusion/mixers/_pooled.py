"""Helpers shared by the baseline mixers that work on pooled (B, D) features."""

from __future__ import annotations

import torch

from fusion.types import Features


def pooled_stack(features: dict[str, Features], masks: dict[str, torch.Tensor], order: list[str]):
    """(B, M, D_m) list and (B, M) float mask in ``order``; pooled rows of missing modalities zeroed."""
    vectors = [features[m].pooled * masks[m].to(features[m].pooled.dtype)[:, None] for m in order]
    weights = torch.stack([masks[m] for m in order], dim=1).to(vectors[0].dtype)
    return vectors, weights
