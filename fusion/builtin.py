"""The core plugin: the mixers (baselines, M-Mixer, EPAM-Net, 3D deformable), the linear and MLP heads, the
classification objectives, metrics and the ``repeat`` dataset wrapper. It names no modality plugin.

Registered through the ``fusion.plugins`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from fusion import metrics
from fusion.data import repeat
from fusion.heads import linear, mlp
from fusion.hookspecs import hookimpl
from fusion.mixers import attention_gate, concat, deformable, epamnet, late, mmixer
from fusion.mixers import sum as sum_mixer
from fusion.objectives import classify


@hookimpl
def fusion_add_mixers():
    return [late.SPEC, concat.SPEC, sum_mixer.SPEC, attention_gate.SPEC, mmixer.SPEC, epamnet.SPEC, deformable.SPEC]


@hookimpl
def fusion_add_heads():
    return [linear.SPEC, mlp.SPEC]


@hookimpl
def fusion_add_objectives():
    return [classify.SPEC, epamnet.BRANCH_CE_SPEC]


@hookimpl
def fusion_add_metrics():
    return list(metrics.SPECS)


@hookimpl
def fusion_add_datasets():
    return [repeat.SPEC]
