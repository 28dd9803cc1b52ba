"""The SynthAct plugin: Fusion's built-in procedurally generated multimodal dataset."""

from __future__ import annotations

from fusion.construct import LazyFactory
from fusion.hookspecs import hookimpl
from fusion.types import DatasetSpec
from fusion_plugins.synthact.config import MODALITIES

#: The dataset, imported on first use so that listing plugins stays fast; its arguments are SynthAct's.
synthact = LazyFactory("fusion_plugins.synthact.dataset:SynthAct",
                       "SynthAct: see fusion_plugins.synthact.dataset.SynthAct for every argument.")


@hookimpl
def fusion_add_datasets():
    return [
        DatasetSpec(
            name="synthact",
            factory=synthact,
            modalities=MODALITIES,
            doc="Built-in synthetic actions: skeleton, pose2d, rgb, depth, pointcloud; xsub/xview splits.",
        )
    ]


@hookimpl
def fusion_add_commands(data_commands):
    from fusion_plugins.synthact.cli import add_commands

    add_commands(data_commands)
