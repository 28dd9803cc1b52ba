"""The skeleton plugin: skeleton/pose2d modalities, graph layouts, GCN and transformer encoders, transforms."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion_plugins.skeleton import modality


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)
