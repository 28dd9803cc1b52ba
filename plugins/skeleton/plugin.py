"""The skeleton plugin: skeleton/pose2d modalities, graph layouts, GCN and transformer encoders, transforms."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import EncoderSpec
from fusion_plugins.skeleton import compact, heatmaps, keypoints, modality, normalize3d, paired_flip, transforms
from fusion_plugins.skeleton.ctrgcn import ctrgcn
from fusion_plugins.skeleton.stgcn import stgcn
from fusion_plugins.skeleton.stgcnpp import stgcnpp
from fusion_plugins.skeleton.transformer import skeleton_transformer

_PROVIDES = frozenset({"pooled", "joints", "frames"})


@hookimpl
def fusion_add_modalities():
    return list(modality.SPECS)


@hookimpl
def fusion_add_encoders():
    def spec(name, factory, doc):
        return EncoderSpec(name=name, factory=factory, modality="skeleton", provides=_PROVIDES, doc=doc)

    return [
        spec("stgcn", stgcn, "ST-GCN (Yan et al. 2018): graph conv + 9x1 TCN with edge importance."),
        spec("ctrgcn", ctrgcn, "CTR-GCN (Chen et al. 2021): channel-wise topology refinement + multi-scale TCN."),
        spec("stgcnpp", stgcnpp, "ST-GCN++ (pyskl): learnable A, GCN residual, 6-branch multi-scale TCN."),
        spec("skeleton_transformer", skeleton_transformer,
             "MAMP skeleton transformer: ViT over joint x 4-frame tokens; token API for masked pretext tasks."),
        heatmaps.SPEC, heatmaps.NET_SPEC, keypoints.SPEC,  # pose2d inputs of the video-pose mixers
    ]


@hookimpl
def fusion_add_transforms():
    return [*transforms.SPECS, *normalize3d.SPECS, compact.SPEC, paired_flip.SPEC]
