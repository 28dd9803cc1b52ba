"""The contracts every component speaks: samples, batches, features, mixer outputs, spec records.

A reader yields a :data:`Sample` (numpy, raw layout); transforms and collate turn a list of samples
into a :data:`Batch` (tensors, batch layout, one bool mask per modality); an encoder returns
:class:`Features`; a mixer returns :class:`MixerOutput`. Plugins describe what they add with the
``*Spec`` records below and return lists of them from their registration hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypedDict, TypeVar

import torch

from fusion.errors import ContractError


class Sample(TypedDict, total=False):
    """A raw sample (docs/architecture.md, "Contracts"): one numpy array per modality present, in the
    modality's raw layout (keys are modality names, not listed here), plus these keys."""

    label: int
    meta: dict[str, Any]  # "id" (str) always; layout, bones, intrinsics, ... when known


class Batch(TypedDict, total=False):
    """A collated batch: one tensor per modality in its batch layout (keys are modality names), plus these.

    ``mask[m]`` is False where a sample lacks modality ``m`` (its tensor is zeros there).
    """

    mask: dict[str, torch.Tensor]  # modality -> BoolTensor (B,)
    label: torch.Tensor  # LongTensor (B,)
    index: torch.Tensor  # LongTensor (B,): the samples' dataset indices
    meta: list[dict[str, Any]]


class ObjectiveOutput(TypedDict):
    """What an objective returns with its loss: ``logits`` (B, K) for accuracy (None for pretext tasks) and
    ``logs``, scalar tensors logged per step (name -> tensor)."""

    logits: torch.Tensor | None
    logs: dict[str, torch.Tensor]

#: The fixed Batch fields: what each holds and who fills it (objectives' error messages and docs).
BATCH_FIELDS: dict[str, str] = {
    "label": "LongTensor (B,) of class labels, which collate fills from each sample's 'label' (the dataset's)",
    "index": "LongTensor (B,) of dataset indices, which the recipe dataset and collate fill",
    "mask": "modality -> BoolTensor (B,), which collate fills for every modality in data.modalities",
    "meta": "one dict per sample, which collate fills from each sample's 'meta' (the dataset's)",
}


def batch_field(batch: Batch, name: Literal["label", "index", "mask", "meta"], objective: str) -> Any:
    """``batch[name]`` for objective ``objective``; a missing field is one sentence naming both and its provider."""
    if name not in batch:
        raise ContractError(f"objective {objective!r} reads batch field {name!r}, a {BATCH_FIELDS[name]}; "
                            f"this batch has none (it has {', '.join(sorted(batch)) or 'nothing'})")
    return batch[name]  # type: ignore[literal-required]


def batch_tensor(batch: Batch, modality: str, objective: str) -> torch.Tensor:
    """The batch-layout tensor of ``modality``; missing: one sentence naming the objective and what provides it."""
    if modality not in batch:
        raise ContractError(f"objective {objective!r} reads the {modality!r} tensor of the batch, which the dataset "
                            f"provides when data.modalities lists {modality!r}; this batch has "
                            f"{', '.join(k for k in sorted(batch) if k not in BATCH_FIELDS) or 'no modality'}")
    return batch[modality]  # type: ignore[literal-required]


_T = TypeVar("_T")


@dataclass(frozen=True)
class AuxField(Generic[_T]):
    """One auxiliary output of an encoder (``Features.aux``) or a mixer (``MixerOutput.aux``).

    The component declares it in its spec (``EncoderSpec.aux`` / ``MixerSpec.aux``: the conformance suite
    checks it is filled) and objectives read it with :meth:`read` (or :meth:`get` where it is optional),
    never by a bare key, so a missing field is one sentence naming objective, field and provider.

    Args:
        name: the key in ``aux``.
        doc: what it holds (type, shape, meaning).
        provider: the component(s) that fill it, as the error message names them.
        when: the argument it depends on, e.g. ``"ensemble: true"``; "" when always filled.
    """

    name: str
    doc: str
    provider: str
    when: str = ""

    def read(self, aux: Mapping[str, Any], reader: str, where: str = "mixer", kind: str = "objective") -> _T:
        """``aux[name]`` for the ``kind`` (objective, mixer) named ``reader``; ``where`` says whose aux it is
        ("mixer", "skeleton encoder", ...)."""
        if self.name not in aux:
            condition = f" with {self.when}" if self.when else ""
            raise ContractError(f"{kind} {reader!r} reads the {where}'s aux field {self.name!r} ({self.doc}), "
                                f"which {self.provider} provides{condition}; the model's {where} does not fill it")
        return aux[self.name]

    def get(self, aux: Mapping[str, Any], default: _T | None = None) -> _T | None:
        """``aux[name]`` or ``default``: for fields an objective uses only when present (extra loss terms)."""
        return aux.get(self.name, default)


#: Extra loss terms (name -> scalar tensor) objectives add to their loss; FusionModel gathers the encoders' as
#: ``"<modality>.<name>"`` next to the mixer's.
LOSSES: AuxField[dict[str, torch.Tensor]] = AuxField(
    "losses", "name -> scalar tensor, extra loss terms", "any encoder or mixer (e.g. Hyper-GCN's divergence)")
#: Per-modality classifier logits (modality -> (B, K)) that ``classify``'s ``branch_weight`` trains.
LOGITS_PER_MODALITY: AuxField[dict[str, torch.Tensor]] = AuxField(
    "logits_per_modality", "modality -> (B, K) logits of a per-modality classifier",
    "a mixer with per-modality classifiers (e.g. late, mmixer, epamnet)")


def aux_names(fields: Sequence[AuxField]) -> set[str]:
    """The keys of declared aux fields."""
    return {f.name for f in fields}


#: Every field an encoder may provide, with its shape, for error messages and docs.
FEATURE_FIELDS: dict[str, str] = {
    "pooled": "(B, D)",
    "frames": "(B, T', D)",
    "volume": "(B, D, T', H', W')",
    "joints": "(B, D, T', V)",
    "points": "(B, T', N', D)",
    "xyz": "(B, T', N', 3)",
}


@dataclass
class Features:
    """What an encoder returns; every field is optional and the encoder's spec says which it fills."""

    pooled: torch.Tensor | None = None
    frames: torch.Tensor | None = None
    volume: torch.Tensor | None = None
    joints: torch.Tensor | None = None
    points: torch.Tensor | None = None
    xyz: torch.Tensor | None = None
    aux: dict[str, Any] = field(default_factory=dict)

    def provided(self) -> set[str]:
        return {name for name in FEATURE_FIELDS if getattr(self, name) is not None}


@dataclass
class MixerOutput:
    """What a mixer returns: the fused vector, optional logits (mixers that classify), extras."""

    fused: torch.Tensor | None
    logits: torch.Tensor | None = None
    aux: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelOutput:
    """What :class:`fusion.model.FusionModel` returns: logits plus everything an objective may need."""

    logits: torch.Tensor | None
    fused: torch.Tensor | None
    features: dict[str, Features]
    aux: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Spec records returned by the registration hooks


@dataclass(frozen=True)
class ComponentSpec:
    """Common fields: a registry name, the factory a recipe's ``args`` are passed to, a one-line doc.

    ``plugin`` is filled in by the registry with the name of the plugin that registered it.
    """

    name: str
    factory: Callable[..., Any]
    doc: str = ""
    plugin: str = ""
    #: Arguments that are themselves component blocks, validated recursively when the recipe loads:
    #: ``{"dataset": "dataset"}`` (a ``{name, args}`` block), ``"transform[]"`` (a list of blocks),
    #: ``"transform[][]"`` (a list of lists), ``"encoder@backbone_args"`` (a registry name whose args are
    #: the argument ``backbone_args``). The factory builds them with its ``ctx`` (:mod:`fusion.construct`).
    nested: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return _KIND_OF_SPEC[type(self)]

    def with_plugin(self, plugin: str) -> ComponentSpec:
        return dataclasses.replace(self, plugin=plugin)


@dataclass(frozen=True)
class Drawing:
    """How ``fusion data show`` draws a modality's raw clip; the modality plugin declares it, the core
    (:mod:`fusion.data.show`) names no modality. A modality is a panel of its own, or 2D joints drawn over
    the image panel (when they are in its pixels) or in a panel of their own.

    Args:
        rank: panels left to right by rank (a joints panel comes first); the lowest-ranked modality gives
            the clip's frame count and, among joint modalities, the joints.
        panel: ``panel(ax, clip, t, scale) -> title`` draws frame ``t`` of the raw clip on a matplotlib axes.
        scale: ``scale(clip)``: what stays fixed over the clip (colour range, axis limits), given to ``panel``.
        projection: the panel's matplotlib projection (``"3d"``); None for a 2D panel.
        image_size: ``image_size(clip) -> (width, height)``: the panel is an image in pixels, and the
            sample's joints are drawn over it.
        joints: ``joints(clip, meta, image_size) -> (M, T, V, 2)`` pixel coordinates (NaN where missing)
            in the image panel's frame (``image_size`` None: there is none), or None when they cannot be placed.
        front: ``front(clip) -> (M, T, V, 2)``: a front view for their own panel when ``joints`` gives None.
        label: the joints' name in panel titles.
    """

    rank: int = 0
    panel: Callable[..., str] | None = None
    scale: Callable[[Any], Any] | None = None
    projection: str | None = None
    image_size: Callable[[Any], tuple[int, int]] | None = None
    joints: Callable[[Any, Mapping[str, Any], tuple[int, int] | None], Any] | None = None
    front: Callable[[Any], Any] | None = None
    label: str = ""


@dataclass(frozen=True)
class ModalitySpec(ComponentSpec):
    """A modality: how one sample's raw numpy array becomes its batch-layout tensor.

    ``factory(array) -> Tensor`` converts one sample (raw layout) into its per-sample batch layout,
    e.g. skeleton ``(M, T, V, C) -> (C, T, V, M)``.
    """

    raw_layout: str = ""
    batch_layout: str = ""
    #: Axis of the raw layout that is time (skeleton (M, T, V, C): 1; rgb (T, H, W, 3): 0); None: not temporal.
    #: Frame corruption (``eval.corruption``) and frame counts use it, so the core hard-codes no modality.
    time_axis: int | None = None
    #: ``bones(layout_name) -> [(i, j), ...]``: bone pairs of a named joint layout (``fusion data show``
    #: draws them); None when the modality has no joints or the plugin knows no layouts.
    bones: Callable[[str], Sequence[tuple[int, int]]] | None = None
    #: How ``fusion data show`` draws the modality (:class:`Drawing`); None: it is not drawn.
    draw: Drawing | None = None


@dataclass(frozen=True)
class EncoderSpec(ComponentSpec):
    """An encoder for one modality; ``provides`` lists the :class:`Features` fields it fills."""

    modality: str = ""
    provides: frozenset[str] = frozenset({"pooled"})
    #: Auxiliary outputs the encoder puts in ``Features.aux`` (objectives and mixers read them).
    aux: tuple[AuxField, ...] = ()


#: Role name a mixer uses for "every modality in the model".
EVERY_MODALITY = "*"


@dataclass(frozen=True)
class MixerSpec(ComponentSpec):
    """A mixer; ``needs`` maps a role (or ``"*"`` for every modality) to the Features fields it reads."""

    needs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Auxiliary outputs the mixer puts in ``MixerOutput.aux`` (objectives read them; the conformance suite
    #: checks them), e.g. :data:`LOGITS_PER_MODALITY` that ``classify``'s ``branch_weight`` trains.
    aux: tuple[AuxField, ...] = ()


@dataclass(frozen=True)
class HeadSpec(ComponentSpec):
    """A head: ``factory(in_dim, num_classes, **args) -> nn.Module`` mapping fused (B, D) to logits."""


@dataclass(frozen=True)
class ObjectiveSpec(ComponentSpec):
    """An objective: ``factory(**args) -> nn.Module`` whose ``forward(model, batch)`` gives (loss, outputs).

    ``outputs`` is ``{"logits": tensor | None, "logs": {name: scalar tensor}}``. Optional methods the
    trainer calls when present (self-supervised methods need them):
    ``param_groups(model, weight_decay) -> list[dict]`` (weight-decay exclusion, layer-wise lr decay),
    ``on_epoch_start(model, epoch)`` (prototype refresh, schedule switches) and
    ``on_step_end(model, step)`` after each optimiser step (EMA teachers, queues). The objective's
    own parameters and buffers are trained, synchronised and checkpointed with the model.

    ``batch`` and ``aux`` declare what ``forward`` reads: :data:`BATCH_FIELDS` names and ``"<arg>"`` for the
    tensor of the modality its argument ``arg`` names (e.g. ``"<modality>"``), read with :func:`batch_field` /
    :func:`batch_tensor`; and the :class:`AuxField` records of encoders and mixers, read with
    ``AuxField.read`` (``get`` where the field is optional). The conformance suite checks the declarations.
    """

    batch: tuple[str, ...] = ()
    aux: tuple[AuxField, ...] = ()


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A dataset: ``factory(split, **args) -> torch Dataset`` yielding :data:`Sample` dicts.

    The dataset should expose ``num_classes`` and ``class_names``.
    """

    modalities: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransformSpec(ComponentSpec):
    """A transform: ``factory(**args) -> callable(sample, rng) -> sample`` on raw numpy samples."""

    modality: str = ""


@dataclass(frozen=True)
class MetricSpec(ComponentSpec):
    """A metric: ``factory(**args) -> callable(scores (N, K), labels (N,)) -> dict[str, float]``."""


@dataclass(frozen=True)
class InputFormatSpec(ComponentSpec):
    """A file or folder format ``fusion predict`` reads: ``factory(path, frames, max_bodies, points) -> list[Sample]``.

    ``accepts(path) -> bool`` says whether the format reads ``path`` (by suffix or folder contents);
    one file may hold several samples (a pickle, a packed array), each with ``meta["id"]``.
    """

    accepts: Callable[[str], bool] | None = None
    modalities: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoseEstimatorSpec(ComponentSpec):
    """A 2D pose estimator: ``factory(**args) -> estimator`` (see ``fusion_add_pose_estimators``)."""

    native_layout: str = ""


@dataclass(frozen=True)
class CheckpointFormatSpec(ComponentSpec):
    """An official checkpoint format ``fusion convert`` and ``model.init.format`` read.

    ``factory(source: str, target: Mapping[str, tuple[int, ...]]) -> Conversion``: ``source`` is the
    checkpoint file, ``target`` the Fusion model's tensor names (``model.encoders.skeleton...``,
    ``model.head...``, ``objective...``) and shapes. See ``fusion_add_checkpoint_formats``.
    """


@dataclass
class Conversion:
    """What a checkpoint format returns: Fusion name -> (official name, tensor), and official names left out.

    The framework checks shapes against the model, and reports ``unused`` plus every model tensor
    ``tensors`` does not fill.
    """

    tensors: dict[str, tuple[str, torch.Tensor]]
    unused: list[str] = field(default_factory=list)


_KIND_OF_SPEC: dict[type, str] = {
    ModalitySpec: "modality",
    EncoderSpec: "encoder",
    MixerSpec: "mixer",
    HeadSpec: "head",
    ObjectiveSpec: "objective",
    DatasetSpec: "dataset",
    TransformSpec: "transform",
    MetricSpec: "metric",
    InputFormatSpec: "input_format",
    PoseEstimatorSpec: "pose_estimator",
    CheckpointFormatSpec: "checkpoint_format",
}

#: Registry kinds in display order.
KINDS: tuple[str, ...] = tuple(_KIND_OF_SPEC.values())
SPEC_OF_KIND: dict[str, type] = {kind: spec for spec, kind in _KIND_OF_SPEC.items()}
