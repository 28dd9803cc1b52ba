"""Collate raw samples into a batch with one bool mask per modality.

A sample that lacks a modality gets zeros of that modality's shape and ``mask[m] = False``; mixers
read the masks, so a missing modality is normal input rather than an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch.utils.data import get_worker_info

from fusion.errors import ContractError

ToTensor = Callable[[object], torch.Tensor]


class Collator:
    """Turns ``list[Sample | None]`` into a :data:`fusion.types.Batch`.

    ``converters`` maps each modality to its raw→batch-layout conversion (the modality spec's
    factory); ``shapes`` gives the per-sample batch-layout shape used for zeros when a whole batch
    lacks a modality.

    Batches are written straight into their final tensor, allocated in shared memory inside a
    data-loader worker (as PyTorch's ``default_collate`` does: the batch then crosses to the main
    process without a copy). A converter may offer ``convert.stack(arrays, empty)``, which writes the
    batch of raw ``arrays`` into ``empty(shape, dtype)`` in one pass (rgb: uint8 frames become float
    without a per-sample float copy) and must equal stacking ``convert(a)``; it returns None for
    input it does not take, and the per-sample path runs.
    """

    def __init__(self, converters: Mapping[str, ToTensor], shapes: Mapping[str, tuple] | None = None):
        self.converters = dict(converters)
        self.shapes = dict(shapes or {})

    def __call__(self, samples: list[dict | None]) -> dict:
        kept = [s for s in samples if s is not None]
        batch: dict = {"mask": {}, "skipped": torch.tensor(len(samples) - len(kept))}
        for modality, convert in self.converters.items():
            stack = getattr(convert, "stack", None)
            if stack is not None and kept and all(modality in s for s in kept):
                stacked = stack([s[modality] for s in kept], empty_batch)
                if stacked is not None:
                    batch[modality] = stacked
                    batch["mask"][modality] = torch.ones(len(kept), dtype=torch.bool)
                    continue
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
            if kept:
                out = empty_batch((len(kept), *shape), dtype)
                batch[modality] = torch.stack([zeros if t is None else t for t in tensors], out=out)
            else:
                batch[modality] = zeros[None][:0]
            batch["mask"][modality] = torch.tensor([t is not None for t in tensors], dtype=torch.bool)
        batch["label"] = torch.tensor([s["label"] for s in kept], dtype=torch.long)
        batch["index"] = torch.tensor([s["index"] for s in kept], dtype=torch.long)
        batch["meta"] = [s["meta"] for s in kept]
        return batch


def empty_batch(shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised batch tensor; inside a data-loader worker in shared memory, so that sending it to
    the main process does not copy it (the worker would otherwise move it to shared memory when pickling)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)
