"""The UniPose plugin: point-cloud and A2J lifters (encoders), lift-then-recognise and fusion mixers, the
weakly supervised lifting objective and the cross-modality detection-heat transform."""

from fusion.hookspecs import hookimpl
from fusion_plugins.unipose import ENCODERS, MIXERS, OBJECTIVES
from fusion_plugins.unipose.detections import TRANSFORMS


@hookimpl
def fusion_add_encoders():
    return list(ENCODERS)


@hookimpl
def fusion_add_mixers():
    return list(MIXERS)


@hookimpl
def fusion_add_objectives():
    return list(OBJECTIVES)


@hookimpl
def fusion_add_transforms():
    return list(TRANSFORMS)
