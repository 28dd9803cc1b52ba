"""The point-cloud plugin: the pointcloud modality, PointNet++ encoders and point transforms."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion_plugins.pointcloud import modality, temporal, transforms, two_stack


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)


@hookimpl
def fusion_add_encoders():
    return [temporal.SPEC, two_stack.SPEC]


@hookimpl
def fusion_add_transforms():
    return list(transforms.SPECS)
