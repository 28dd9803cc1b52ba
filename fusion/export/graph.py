"""The traceable form of a :class:`~fusion.model.FusionModel`: positional tensors in, logits out.

Exporters (ONNX, ``torch.export``, TorchScript) trace tensors, not dicts of dicts; this wrapper
rebuilds the batch the model expects from a fixed modality order and a stacked mask.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import FusionError


class ExportableModel(nn.Module):
    """``(x_modality_1, ..., x_modality_k, mask (B, k) bool) -> logits (B, classes)``, modalities sorted."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.modalities = list(model.modalities)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        *inputs, mask = tensors
        batch = dict(zip(self.modalities, inputs))
        batch["mask"] = {m: mask[:, i] for i, m in enumerate(self.modalities)}
        logits = self.model(batch).logits
        if logits is None:
            raise FusionError("the model produces no logits (a pretext-only run?); export a classifier run")
        return logits

    def example_inputs(self, batch: dict) -> tuple[torch.Tensor, ...]:
        """Positional inputs taken from a collated batch."""
        tensors = tuple(batch[m] for m in self.modalities)
        mask = torch.stack([batch["mask"][m].bool() for m in self.modalities], dim=1)
        return tensors + (mask,)

    @property
    def input_names(self) -> list[str]:
        return [*self.modalities, "mask"]


def time_axis(batch_layout: str) -> int | None:
    """Index of ``T`` in a modality's batch layout such as ``"(B, C, T, V, M)"``; None if it has none."""
    inside = batch_layout.split(")")[0].lstrip("(")
    names = [part.strip() for part in inside.split(",")]
    return names.index("T") if "T" in names else None


def resized_random(
    inputs: tuple[torch.Tensor, ...], seed: int, batch: int | None = None, frames: dict[int, int] | None = None
) -> tuple[torch.Tensor, ...]:
    """Random inputs like ``inputs`` with the mask all True; ``batch`` and ``frames`` ({input: time axis})
    change the batch size and double the frame count, to check an export's dynamic axes."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for index, x in enumerate(inputs[:-1]):
        shape = list(x.shape)
        if batch is not None:
            shape[0] = batch
        if frames and index in frames:
            shape[frames[index]] *= 2
        scale = x.float().std().clamp_min(1e-3)
        out.append((torch.randn(shape, generator=generator, dtype=torch.float64) * scale).to(x.dtype))
    out.append(torch.ones(out[0].shape[0], inputs[-1].shape[1], dtype=torch.bool))
    return tuple(out)
