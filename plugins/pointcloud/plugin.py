"""The point-cloud plugin: the pointcloud modality, point sampling transforms and encoders."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion_plugins.pointcloud import modality


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)
