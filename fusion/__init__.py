"""Fusion: multimodal human action recognition with plugins, mixers and recipes."""

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
