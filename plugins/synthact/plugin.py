"""The SynthAct plugin: Fusion's built-in procedurally generated multimodal dataset."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import DatasetSpec
from fusion_plugins.synthact.config import MODALITIES


def synthact(split: str = "train", **kwargs):
    """Build the dataset (imported lazily so that listing plugins stays fast)."""
    from fusion_plugins.synthact.dataset import SynthAct

    return SynthAct(split, **kwargs)


synthact.__doc__ = "SynthAct: see fusion_plugins.synthact.dataset.SynthAct for every argument."


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
