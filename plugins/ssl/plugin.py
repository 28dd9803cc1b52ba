"""The self-supervised plugin: MAMP, STARS, SkeletonMAE, HaLP, HiCLR, MS-CLR pretext objectives, ACLNet.

Each hook returns a plain list; add one line per component.
"""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import EncoderSpec
from fusion_plugins.ssl import aclnet, augment, finetune, gin, halp, hiclr, mamp, msclr, skeletonmae, stars, subset

_PROVIDES = frozenset({"pooled", "joints", "frames"})


@hookimpl
def fusion_add_transforms():
    return [
        *augment.SPECS,
    ]


@hookimpl
def fusion_add_objectives():
    return [
        mamp.SPEC,
        stars.SPEC,
        skeletonmae.SPEC,
        finetune.SPEC,
        halp.SPEC,
        hiclr.SPEC,
        msclr.SPEC,
        aclnet.SPEC,
    ]


@hookimpl
def fusion_add_datasets():
    return [
        subset.SPEC,
    ]


@hookimpl
def fusion_add_encoders():
    def spec(name, factory, doc):  # modality "": skeleton (3D) or pose2d (SkeletonMAE's HRNet keypoints)
        return EncoderSpec(name=name, factory=factory, modality="", provides=_PROVIDES, doc=doc)

    return [
        spec("skeleton_gin", gin.skeleton_gin, "SkeletonMAE's per-frame GIN encoder over the skeleton graph."),
        spec("strl", skeletonmae.strl, "SkeletonMAE's STRL fine-tuning model: SM blocks with pre-trained GIN copies."),
        halp.ENCODER_SPEC,
        msclr.ENCODER_SPEC,
    ]


@hookimpl
def fusion_add_mixers():
    return [
        msclr.ENSEMBLE_SPEC,
    ]


@hookimpl
def fusion_run_protocol(run_dir, protocol, options, overrides, trust_plugins):
    """``fusion eval RUN --protocol linear|knn|finetune|semi|fewshot`` (see :mod:`fusion_plugins.ssl.protocols`)."""
    from fusion.errors import RecipeError
    from fusion_plugins.ssl.protocols import ProtocolOptions, run_protocol

    if options.get("mode", "finetune") not in ("finetune", "linear"):
        raise RecipeError(f"--mode {options['mode']!r}: semi trains the whole model (finetune) or a linear probe (linear)")
    return run_protocol(run_dir, protocol, ProtocolOptions(**options), overrides, trust_plugins=trust_plugins)
