"""Fusion: multimodal human action recognition with plugins, mixers and recipes."""

from fusion.hookspecs import hookimpl
from fusion.types import (
    DatasetSpec,
    EncoderSpec,
    Features,
    HeadSpec,
    MetricSpec,
    MixerOutput,
    MixerSpec,
    ModalitySpec,
    ObjectiveSpec,
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
    "__version__",
]
