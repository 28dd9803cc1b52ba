"""The core plugin: the mixers (baselines, M-Mixer, EPAM-Net, 3D deformable), their parameter-free pose
inputs, the linear and MLP heads, the classification objectives, metrics, the ``repeat`` dataset wrapper.

Registered through the ``fusion.plugins`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from fusion import metrics
from fusion.data import repeat
from fusion.heads import linear, mlp
from fusion.hookspecs import hookimpl
from fusion.mixers import attention_gate, concat, deformable, epamnet, heatmaps, keypoints, late, mmixer, unipose
from fusion.mixers import sum as sum_mixer
from fusion.objectives import classify


@hookimpl
def fusion_add_mixers():
    return [late.SPEC, concat.SPEC, sum_mixer.SPEC, attention_gate.SPEC, mmixer.SPEC, epamnet.SPEC, deformable.SPEC, *unipose.MIXERS]


@hookimpl
def fusion_add_encoders():
    """Pose inputs that mixers read: keypoint heatmaps (EPAM-Net) and keypoint joints (token mixers)."""
    return [heatmaps.SPEC, heatmaps.NET_SPEC, keypoints.SPEC, *unipose.ENCODERS]


@hookimpl
def fusion_add_heads():
    return [linear.SPEC, mlp.SPEC]


@hookimpl
def fusion_add_objectives():
    return [classify.SPEC, epamnet.BRANCH_CE_SPEC, *unipose.OBJECTIVES]


@hookimpl
def fusion_add_metrics():
    return list(metrics.SPECS)


@hookimpl
def fusion_add_datasets():
    return [repeat.SPEC]
