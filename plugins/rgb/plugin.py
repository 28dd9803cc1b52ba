"""The RGB plugin: the rgb modality, video readers, video encoders."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion_plugins.rgb import modality


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)
