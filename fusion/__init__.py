"""Fusion: multimodal human action recognition with plugins, mixers and recipes."""

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
