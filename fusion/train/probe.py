"""kNN probe of a pretext-only run's encoder (SSL pre-training): what its validation score is, since its
classifier is never trained and that classifier's accuracy means nothing.

Training features (test transforms, at most :data:`BANK` evenly spaced samples) vote for each
validation or test sample's class through its ``k`` most cosine-similar neighbours
(:func:`fusion.metrics.knn_scores`).
"""

from __future__ import annotations

import numpy as np
import torch

from fusion.data.wrapped import IndexedView

BANK = 4096  # training samples in the feature bank (evenly spaced), so a probe costs little per epoch


class KnnProbe:
    def __init__(self, recipe: dict, built, batch_size: int, k: int = 20):
        from fusion.train.build import build_dataset, build_loader

        self.k, self.num_classes = k, built.num_classes
        objective = built.module.objective
        self.modality = getattr(objective, "modality", None) or next(iter(built.module.model.encoders))
        train = built.train_set.base
        if len(train) > BANK:
            train = IndexedView(train, np.linspace(0, len(train) - 1, BANK).astype(np.int64))
        bank = build_dataset(recipe, built.registry, "test", base=train, clean=True)
        loader = lambda d: build_loader(recipe, d, built.collator, False, batch_size)  # noqa: E731
        self.loaders = {"train": loader(bank), "test": loader(built.test_set)}
        if built.val_set is not None:
            self.loaders["val"] = loader(built.val_set)

    @torch.no_grad()
    def features(self, model, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = model.encoders[self.modality]
        was_training = encoder.training
        encoder.eval()
        device = next(model.parameters()).device
        feats, labels = [], []
        for batch in self.loaders[split]:
            feats.append(encoder(batch[self.modality].to(device)).pooled.float().cpu())
            labels.append(batch["label"])
        encoder.train(was_training)
        return torch.cat(feats), torch.cat(labels)

    def top1(self, model, split: str) -> float:
        from fusion.metrics import knn_scores

        bank_f, bank_y = self.features(model, "train")
        f, y = self.features(model, split)
        scores = knn_scores(bank_f, bank_y, f, self.num_classes, k=self.k)
        return float((scores.argmax(1) == y).float().mean()) if len(y) else 0.0
