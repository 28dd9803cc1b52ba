"""The depth plugin: the depth modality, depth readers and encoders."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion_plugins.depth import modality


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)
