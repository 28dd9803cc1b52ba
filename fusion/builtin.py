"""The core plugin: baseline mixers, the linear head, the classification objective, metrics.

Registered through the ``fusion.plugins`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from fusion import metrics
from fusion.heads import linear
from fusion.hookspecs import hookimpl
from fusion.mixers import attention_gate, concat, late, sum as sum_mixer
from fusion.objectives import classify


@hookimpl
def fusion_add_mixers():
    return [late.SPEC, concat.SPEC, sum_mixer.SPEC, attention_gate.SPEC]


@hookimpl
def fusion_add_heads():
    return [linear.SPEC]


@hookimpl
def fusion_add_objectives():
    return [classify.SPEC]


@hookimpl
def fusion_add_metrics():
    return list(metrics.SPECS)
