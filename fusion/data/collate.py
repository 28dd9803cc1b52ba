"""Collate raw samples into a batch with one bool mask per modality.

A sample that lacks a modality gets zeros of that modality's shape and ``mask[m] = False``; mixers
read the masks, so a missing modality is normal input rather than an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from fusion.errors import ContractError

ToTensor = Callable[[object], torch.Tensor]


class Collator:
    """Turns ``list[Sample | None]`` into a :data:`fusion.types.Batch`.

    ``converters`` maps each modality to its raw→batch-layout conversion (the modality spec's
    factory); ``shapes`` gives the per-sample batch-layout shape used for zeros when a whole batch
    lacks a modality.
    """

    def __init__(self, converters: Mapping[str, ToTensor], shapes: Mapping[str, tuple] | None = None):
        self.converters = dict(converters)
        self.shapes = dict(shapes or {})

    def __call__(self, samples: list[dict | None]) -> dict:
        kept = [s for s in samples if s is not None]
        batch: dict = {"mask": {}, "skipped": torch.tensor(len(samples) - len(kept))}
        for modality, convert in self.converters.items():
            tensors = [convert(s[modality]) if modality in s else None for s in kept]
            present = [t for t in tensors if t is not None]
            if present:
                shape, dtype = present[0].shape, present[0].dtype
                for t in present[1:]:
                    if t.shape != shape:
                        raise ContractError(
                            f"collate: modality {modality!r} has per-sample shapes {tuple(shape)} and "
                            f"{tuple(t.shape)} in one batch; add a transform that fixes the size"
                        )
            elif modality in self.shapes:
                shape, dtype = self.shapes[modality], torch.float32
            else:
                shape = None
            if shape is None:
                continue
            zeros = torch.zeros(shape, dtype=dtype)
            batch[modality] = torch.stack([zeros if t is None else t for t in tensors]) if kept else zeros[None][:0]
            batch["mask"][modality] = torch.tensor([t is not None for t in tensors], dtype=torch.bool)
        batch["label"] = torch.tensor([s["label"] for s in kept], dtype=torch.long)
        batch["index"] = torch.tensor([s["index"] for s in kept], dtype=torch.long)
        batch["meta"] = [s["meta"] for s in kept]
        return batch
