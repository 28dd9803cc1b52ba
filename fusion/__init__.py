"""Fusion: multimodal human action recognition with plugins, mixers and recipes."""

import os

# PyTorch's CPU allocator asks for transparent huge pages for tensors of 2 MB and more when this is set
# (read at the first such allocation, so setting it here works after ``import torch`` too). A fresh 50 MB
# video batch then costs 25 page faults instead of 12,800: the loader's float batch took 8 ms instead of
# 32 ms on the 2-core VM of docs/performance.md. THP_MEM_ALLOC_ENABLE=0 in the environment turns it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from fusion.construct import (
    BuildContext,
    build,
    context,
    create_dataset,
    create_encoder,
    create_head,
    create_metric,
    create_mixer,
    create_objective,
    create_transform,
    create_transforms,
)
from fusion.hookspecs import hookimpl
from fusion.types import (
    CheckpointFormatSpec,
    Conversion,
    DatasetSpec,
    EncoderSpec,
    Features,
    HeadSpec,
    InputFormatSpec,
    MetricSpec,
    MixerOutput,
    MixerSpec,
    ModalitySpec,
    ObjectiveSpec,
    PoseEstimatorSpec,
    TransformSpec,
)

__version__ = "0.1.0"

__all__ = [
    "build",
    "BuildContext",
    "context",
    "create_encoder",
    "create_mixer",
    "create_head",
    "create_objective",
    "create_dataset",
    "create_transform",
    "create_transforms",
    "create_metric",
    "hookimpl",
    "Features",
    "MixerOutput",
    "ModalitySpec",
    "EncoderSpec",
    "MixerSpec",
    "HeadSpec",
    "ObjectiveSpec",
    "DatasetSpec",
    "TransformSpec",
    "MetricSpec",
    "InputFormatSpec",
    "PoseEstimatorSpec",
    "CheckpointFormatSpec",
    "Conversion",
    "__version__",
]
