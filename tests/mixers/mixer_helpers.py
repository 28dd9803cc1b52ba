"""Shared builders for the mixer tests."""

import torch

from fusion.types import Features


def pooled_features(dims: dict[str, int], batch: int = 4, frames: int = 5, seed: int = 0) -> dict[str, Features]:
    """Random Features with ``pooled`` and ``frames`` for each modality (frames of different lengths)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, (m, d) in enumerate(dims.items()):
        seq = torch.randn(batch, frames + i, d, generator=g)
        out[m] = Features(pooled=seq.mean(1), frames=seq)
    return out


def all_present(modalities, batch: int = 4) -> dict[str, torch.Tensor]:
    return {m: torch.ones(batch, dtype=torch.bool) for m in modalities}
