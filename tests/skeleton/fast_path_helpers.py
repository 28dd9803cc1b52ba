"""Shared by the fast-path equality tests: parameters moved off their initial values, and the error measure."""

from __future__ import annotations

import torch
from torch import nn


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Move every parameter and BN statistic off its initial value (alpha = 0, γ = 1e-6, zero biases,
    A = partition would hide whole terms of the fast paths)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.2, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)
    return model


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the reference's scale (at least 1)."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1.0)).item()
