"""A tiny plugin for core tests: a learnable toy dataset and an MLP skeleton encoder.

Listed under a recipe's ``plugins:`` (the tests put this folder on ``sys.path``), so core tests do not
depend on the built-in plugins' models or on SynthAct.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from fusion import DatasetSpec, EncoderSpec, Features, hookimpl


class ToyDataset(Dataset):
    """Skeleton-shaped samples whose class is encoded in the mean of one joint's x coordinate."""

    def __init__(self, split: str = "train", size: int = 64, classes: int = 4, frames: int = 8, seed: int = 0,
                 missing_every: int = 0, test_size: int | None = None, delay: float = 0.0,
                 fail_on_rank: int | None = None, die_on_index: int | None = None,
                 shuffle_test_labels: int | None = None):
        offset = {"train": 0, "val": 20_000}.get(split, 10_000)  # val: disjoint from train and test
        size = test_size if split != "train" and test_size else size
        self.validation_split = "val"  # a native validation split (fusion.data.validation)
        rng = np.random.default_rng(seed + offset)
        self.labels = np.arange(size) % classes
        self.data = rng.normal(0, 0.3, (size, 1, frames, 5, 3)).astype(np.float32)
        self.data[:, 0, :, 0, 0] += self.labels[:, None] - classes / 2
        if split == "test" and shuffle_test_labels is not None:  # what the model must never be selected on
            self.labels = np.random.default_rng(shuffle_test_labels).permutation(self.labels)
        self.num_classes, self.class_names = classes, [f"class{i}" for i in range(classes)]
        self.missing_every = missing_every
        self.delay, self.fail_on_rank, self.die_on_index = delay, fail_on_rank, die_on_index

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        if i == self.die_on_index and torch.utils.data.get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)  # a decoder segfault / OOM kill, as the loader sees it
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on_rank is not None and int(os.environ.get("RANK", "0")) == self.fail_on_rank:
            raise RuntimeError(f"injected failure on rank {self.fail_on_rank}")
        sample = {"skeleton": self.data[i], "label": int(self.labels[i]), "meta": {"id": f"toy{i:04d}"}}
        if not (self.missing_every and i % self.missing_every == 0):
            sample["pose2d"] = self.data[i] * 2
        return sample


class BNEncoder(nn.Module):
    """The toy MLP with a BatchNorm layer: for precise-BN tests (re-estimated statistics, DDP averaging)."""

    def __init__(self, in_channels: int = 3, joints: int = 5, dim: int = 16):
        super().__init__()
        self.proj, self.norm = nn.Linear(in_channels * joints, dim), nn.BatchNorm1d(dim)
        self.out_dim = dim

    def forward(self, x):  # (B, C, T, V, M)
        b, c, t, v, m = x.shape
        frames = self.proj(x.permute(0, 2, 4, 1, 3).reshape(b, t, m, c * v)).mean(2)  # (B, T, D)
        frames = torch.relu(self.norm(frames.transpose(1, 2)).transpose(1, 2))
        return Features(pooled=frames.mean(1), frames=frames)


class MLPEncoder(nn.Module):
    def __init__(self, in_channels: int = 3, joints: int = 5, dim: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels * joints, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.out_dim = dim

    def forward(self, x):  # (B, C, T, V, M)
        b, c, t, v, m = x.shape
        frames = self.net(x.permute(0, 2, 4, 1, 3).reshape(b, t, m, c * v)).mean(2)
        return Features(pooled=frames.mean(1), frames=frames)


@hookimpl
def fusion_add_datasets():
    return [DatasetSpec(name="toy", factory=ToyDataset, modalities=("skeleton", "pose2d"), doc="Toy data for tests.")]


@hookimpl
def fusion_add_encoders():
    return [
        EncoderSpec(name="toy_mlp", factory=MLPEncoder, modality="skeleton", provides=frozenset({"pooled", "frames"}),
                    doc="Toy MLP encoder."),
        EncoderSpec(name="toy_mlp_pose", factory=MLPEncoder, modality="pose2d", provides=frozenset({"pooled"}),
                    doc="Toy MLP encoder for pose2d."),
        EncoderSpec(name="toy_bn", factory=BNEncoder, modality="skeleton", provides=frozenset({"pooled", "frames"}),
                    doc="Toy encoder with BatchNorm."),
    ]


class CountingObjective(nn.Module):
    """Cross-entropy that counts the trainer's lifecycle calls in buffers (saved with checkpoints)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("steps_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("epochs_started", torch.zeros((), dtype=torch.long))

    def forward(self, model, batch):
        out = model(batch)
        loss = nn.functional.cross_entropy(out.logits, batch["label"])
        return loss, {"logits": out.logits, "logs": {"ce": loss.detach()}}

    def on_step_end(self, model, step):
        self.steps_seen += 1

    def on_epoch_start(self, model, epoch):
        self.epochs_started += 1


class PretextObjective(nn.Module):
    """A label-free pretext task (pull each clip's features towards their frame average): the head never trains."""

    pretext_only = True
    modality = "skeleton"

    def forward(self, model, batch):
        features = model.encoders["skeleton"](batch["skeleton"])  # (B, C, T, V, M)
        loss = (features.frames - features.pooled[:, None]).pow(2).mean() + 0 * features.pooled.sum()
        return loss, {"logits": None, "logs": {}}


@hookimpl
def fusion_add_objectives():
    from fusion.types import ObjectiveSpec

    return [ObjectiveSpec(name="toy_counting", factory=CountingObjective, doc="CE that counts lifecycle calls."),
            ObjectiveSpec(name="toy_pretext", factory=PretextObjective, doc="A label-free pretext task.")]
