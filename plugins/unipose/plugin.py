"""Recipe plugin (``plugins: [fusion.mixers.unipose.plugin]``) for UniPose's data transforms.

The encoders, mixer and objective are registered by the core plugin; the cross-modality transform
lives here so that only recipes which want it load it.
"""

from fusion.hookspecs import hookimpl
from fusion.mixers.unipose.detections import TRANSFORMS


@hookimpl
def fusion_add_transforms():
    return list(TRANSFORMS)
