"""The dataset a run trains on: a registered dataset + the recipe's transforms + error policy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from torch.utils.data import Dataset

from fusion.data.workers import WorkerTracker
from fusion.errors import DataError, FusionError

log = logging.getLogger(__name__)

Transform = Callable[[dict, np.random.Generator], dict]


class RecipeDataset(Dataset):
    """Applies transforms with a generator seeded by (seed, epoch, index) and keeps the recipe's modalities.

    ``on_error="fail"`` re-raises a bad sample's error with its index and id; ``"skip"`` logs it, counts
    it and returns ``None`` (collate drops it and reports the count in the batch).
    ``modality_dropout`` removes each modality of a training sample with that probability, never all.
    """

    def __init__(
        self,
        base: Dataset,
        modalities: Sequence[str],
        transforms: Sequence[Transform] = (),
        seed: int = 0,
        on_error: str = "fail",
        modality_dropout: float = 0.0,
        drop: Sequence[str] = (),
    ):
        self.base, self.modalities, self.transforms = base, list(modalities), list(transforms)
        self.seed, self.on_error, self.modality_dropout = seed, on_error, modality_dropout
        self.drop = set(drop)
        self.epoch = 0
        self.tracker = WorkerTracker()

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        """Seeds the transforms; readers that sample frames themselves get the epoch too."""
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def sample_id(self, index: int) -> str:
        """The dataset's id of sample ``index`` (its ``meta['id']``) for error messages, or the index."""
        finder = getattr(self.base, "sample_id", None)
        try:
            return str(finder(index)) if callable(finder) else str(self.base[index]["meta"]["id"])
        except Exception:  # the sample itself may be what is broken
            return f"#{index}"

    def sample_file(self, index: int) -> str | None:
        """The file a format reader's index names for sample ``index`` (None for other datasets)."""
        base, inner = self.base, index
        try:
            while not callable(getattr(base, "info", None)) and hasattr(base, "indices"):  # IndexedView wrappers
                base, inner = base.base, int(base.indices[inner])
            return str(base.info(inner).path) if callable(getattr(base, "info", None)) else None
        except Exception:
            return None

    def __getitem__(self, index: int) -> dict | None:
        self.tracker.start(index)
        try:
            return self._load(index)
        finally:
            self.tracker.finish()

    def _load(self, index: int) -> dict | None:
        # seeded by (seed, epoch, index); built only when something draws from it (15 us a sample otherwise)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)]) if self.transforms or self.modality_dropout > 0 else None
        try:
            sample = self.base[index]
            for transform in self.transforms:
                sample = transform(sample, rng)
        except Exception as exc:
            if self.on_error == "skip":
                log.warning("skipping sample %d (id %s): %s", index, self.sample_id(index), exc)
                return None
            message = str(exc) if isinstance(exc, FusionError) else f"{type(exc).__name__}: {exc}"
            sample, source = self.sample_id(index), self.sample_file(index)
            if isinstance(exc, DataError) and sample in message:
                raise  # the reader's sentence already names the sample and its file (NTU files carry the id)
            where = f"sample {index} (id {sample}{f', file {source}' if source and source not in message else ''})"
            raise DataError(f"{where}: {message}") from exc
        out = {m: sample[m] for m in self.modalities if sample.get(m) is not None and m not in self.drop}
        if self.modality_dropout > 0 and len(out) > 1:
            keep = rng.random(len(out)) >= self.modality_dropout
            if not keep.any():
                keep[rng.integers(len(out))] = True
            out = {m: v for (m, v), k in zip(out.items(), keep) if k}
        out["label"] = int(sample.get("label", -1))
        out["meta"] = dict(sample.get("meta") or {})
        out["index"] = int(index)
        return out
