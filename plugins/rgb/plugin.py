"""The RGB plugin: the rgb modality, video encoders and video transforms (readers live in plugins/formats)."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion_plugins.rgb import encoders, modality, transforms


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)


@hookimpl
def fusion_add_encoders():
    return list(encoders.SPECS)


@hookimpl
def fusion_add_transforms():
    return list(transforms.SPECS)
