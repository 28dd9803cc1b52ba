"""The supervised skeleton methods plugin: Hyper-GCN, PSUMNet, CascadeFormer, BRL, FineTec."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import EncoderSpec, TransformSpec
from fusion_plugins.skeleton_methods import brl, cascadeformer, finetec, transforms
from fusion_plugins.skeleton_methods.cascadeformer import CascadeFormerEncoder, CascadeFormerT1Encoder
from fusion_plugins.skeleton_methods.finetec import FineTec
from fusion_plugins.skeleton_methods.hypergcn import AUX as hypergcn_aux
from fusion_plugins.skeleton_methods.hypergcn import hypergcn
from fusion_plugins.skeleton_methods.psumnet import PartStream, psumnet

_PROVIDES = frozenset({"pooled", "joints", "frames"})


@hookimpl
def fusion_add_encoders():
    def spec(name, factory, doc, provides=_PROVIDES, modality="skeleton", aux=()):
        return EncoderSpec(name=name, factory=factory, modality=modality, provides=provides, doc=doc, aux=aux)

    return [
        spec("hypergcn", hypergcn, "Hyper-GCN: virtual hyper-joints + adaptive multi-head hyper-graph conv (aux divergence loss).",
             aux=hypergcn_aux),
        spec("psumnet", psumnet, "PSUMNet part stream: CTR-GCN on body/hand/leg joints with 12 unified channels."),
        spec("cascadeformer_t1", CascadeFormerT1Encoder, "CascadeFormer T1 frame transformer (stage 1, masked pretraining).",
             frozenset({"pooled", "frames"})),
        spec("cascadeformer", CascadeFormerEncoder, "CascadeFormer: T1 -> T2 with cross-attention fusion (stage 2).",
             frozenset({"pooled", "frames"})),
        spec("finetec", FineTec, "FineTec: in-context completion, region perturbation, Lagrangian accelerations, GCN "
             "(skeleton or pose2d).", modality="", aux=finetec.AUX),
    ]


@hookimpl
def fusion_add_heads():
    return [cascadeformer.HEAD]


@hookimpl
def fusion_add_objectives():
    return [
        cascadeformer.OBJECTIVE, brl.OBJECTIVE, finetec.OBJECTIVE,
    ]


@hookimpl
def fusion_add_transforms():
    part = TransformSpec(name=PartStream.name, factory=PartStream, modality="skeleton",
                         doc="PSUMNet part joints with [joint, bone, joint-vel, bone-vel] channels.")
    return [part, *transforms.SPECS, *brl.TRANSFORMS]


@hookimpl
def fusion_add_datasets():
    return [brl.DATASET]
