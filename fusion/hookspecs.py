"""Every hook a Fusion plugin may implement, each specified here and nowhere else (as pytest's hookspecs).

A plugin is a plain module of functions decorated with ``@fusion.hookimpl``, discovered through the
``fusion.plugins`` entry-point group (or listed under a recipe's ``plugins:``). Hooks are called with
keyword arguments only; an implementation may declare any subset of a hook's parameters. A function
named ``fusion_*`` that is not a hook here (a misspelling) makes the plugin fail to load with a message
naming the plugin and the function (:func:`fusion.registry.build_registry` runs pluggy's ``check_pending``).

Registration hooks take no argument and return a list of spec records from :mod:`fusion.types`; the
registry adds the plugin's name to each record and rejects a name given by two plugins. What each
record's ``factory`` is called with is said per hook; the recipe's ``args`` are checked against the
factory's signature and annotations when the recipe loads (:mod:`fusion.argtypes`), and arguments
that are component blocks are declared in the spec's ``nested`` and built through ``ctx``
(:mod:`fusion.construct`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from fusion.types import (
        CheckpointFormatSpec,
        DatasetSpec,
        EncoderSpec,
        HeadSpec,
        InputFormatSpec,
        MetricSpec,
        MixerSpec,
        ModalitySpec,
        ObjectiveSpec,
        PoseEstimatorSpec,
        TransformSpec,
    )

hookspec = pluggy.HookspecMarker("fusion")
hookimpl = pluggy.HookimplMarker("fusion")


@hookspec
def fusion_add_modalities() -> list[ModalitySpec]:
    """Register modalities: the key a sample and a batch use (``skeleton``, ``rgb``, ``depth``, ...).

    ``factory(array: numpy.ndarray) -> torch.Tensor`` turns one sample's raw array into its per-sample
    batch layout (collate stacks them). The spec also says which axis of the raw array is time
    (``time_axis``; corruption and frame checks use it) and may give ``bones(layout_name) -> [(i, j), ...]``,
    the joint pairs ``fusion data show`` draws, and ``draw`` (a :class:`fusion.types.Drawing`): how
    ``fusion data show`` draws the modality (a panel, or joints over the image or in their own panel).

    :return: ``list[ModalitySpec]``.
    """


@hookspec
def fusion_add_encoders() -> list[EncoderSpec]:
    """Register encoders, one modality each, with the :class:`fusion.types.Features` fields they fill.

    ``factory(**args) -> nn.Module`` whose ``forward(x)`` takes the modality's batch tensor and returns
    ``Features``; the module exposes ``out_dim`` (the feature size D). What it puts in ``Features.aux`` is
    declared in ``EncoderSpec.aux`` (:class:`fusion.types.AuxField` records).

    :return: ``list[EncoderSpec]``.
    """


@hookspec
def fusion_add_mixers() -> list[MixerSpec]:
    """Register mixers (fusion modules) with the Features fields they need per role.

    ``factory(dims: dict[str, int], num_classes: int, roles: dict[str, str], **args) -> nn.Module`` with
    ``forward(features: dict[str, Features], masks: dict[str, BoolTensor]) -> MixerOutput`` and
    ``out_dim`` (the size of ``fused``). Missing modalities (mask False) are normal input: a masked
    modality must not change the output. What it puts in ``MixerOutput.aux`` is declared in
    ``MixerSpec.aux`` (:class:`fusion.types.AuxField` records).

    :return: ``list[MixerSpec]``.
    """


@hookspec
def fusion_add_heads() -> list[HeadSpec]:
    """Register heads: ``factory(in_dim: int, num_classes: int, **args) -> nn.Module``, (B, in_dim) -> logits.

    :return: ``list[HeadSpec]``.
    """


@hookspec
def fusion_add_objectives() -> list[ObjectiveSpec]:
    """Register training objectives (classification, lifting, pretext tasks, ...).

    ``factory(**args) -> nn.Module`` with ``forward(model, batch) -> (loss, outputs)``, ``outputs`` a
    :class:`fusion.types.ObjectiveOutput` (``logits`` or None, ``logs``: name -> scalar tensor). The
    objective is wrapped with the model for data parallelism, so parameters it owns (decoders,
    projectors, queues as buffers) are trained, synchronised and checkpointed like the model's.
    ``ObjectiveSpec.batch`` / ``aux`` declare the batch fields and aux outputs it reads (through
    ``batch_field`` / ``batch_tensor`` / ``AuxField.read``, which name what is missing).

    :return: ``list[ObjectiveSpec]``.
    """


@hookspec
def fusion_add_datasets() -> list[DatasetSpec]:
    """Register datasets: ``factory(split: str, **args) -> torch Dataset`` of raw :data:`fusion.types.Sample` dicts.

    The dataset should expose ``num_classes`` and ``class_names``; a wrapper declares its wrapped
    block in ``nested`` and builds it with ``ctx``.

    :return: ``list[DatasetSpec]``.
    """


@hookspec
def fusion_add_transforms() -> list[TransformSpec]:
    """Register per-sample transforms: ``factory(**args) -> callable(sample, rng) -> sample``.

    ``rng`` is a ``numpy.random.Generator`` seeded from (seed, epoch, sample index), so runs are
    reproducible and resumable; a transform must draw its randomness from it only.

    :return: ``list[TransformSpec]``.
    """


@hookspec
def fusion_add_metrics() -> list[MetricSpec]:
    """Register metrics a recipe lists under ``eval.metrics``: ``factory(**args) -> callable(scores, labels) -> dict``.

    ``scores`` is ``(N, K)``, ``labels`` ``(N,)``; the returned numbers go to ``report["metrics"]`` of every
    evaluation (validation, test and ``fusion eval``) and the run's summary.

    :return: ``list[MetricSpec]``.
    """


@hookspec
def fusion_add_input_formats() -> list[InputFormatSpec]:
    """Register the files and folders ``fusion predict`` can read (a user's own data, one sample at a time).

    Each :class:`fusion.types.InputFormatSpec` has ``accepts(path: str) -> bool`` and
    ``factory(path: str, frames: int | None, max_bodies: int, points: int) -> list[Sample]`` (arguments
    given by position): ``frames`` is the number of frames the run's dataset sampled (None: all),
    ``max_bodies`` the persons it kept, ``points`` the points per frame of a point cloud.
    Samples carry ``meta["id"]``, ``meta["layout"]`` for joints and ``meta["bones"]`` (pairs of
    joint indices, for overlays) when they have joints.

    :return: ``list[InputFormatSpec]``.
    """


@hookspec
def fusion_add_pose_estimators() -> list[PoseEstimatorSpec]:
    """Register 2D pose estimators that turn a video into ``pose2d`` so pose-trained runs accept videos.

    ``PoseEstimatorSpec.factory(layout: str, max_persons: int, model_path: str | None) -> estimator``
    where ``estimator(frames) -> (pose2d, meta)``: ``frames`` is ``(T, H, W, 3)`` uint8 RGB,
    ``pose2d`` is ``(M, T, V, 3)`` float32 pixel x, y and a 0-1 score (0 where a person is not seen),
    persons tracked across frames and the ``max_persons`` most active kept, joints converted to
    ``layout`` (``coco17``, ``ntu25``, ...); ``meta`` holds ``layout`` and ``bones``. An estimator must
    never download: weights come from an installed package or ``model_path``.

    :return: ``list[PoseEstimatorSpec]``.
    """


@hookspec
def fusion_add_checkpoint_formats() -> list[CheckpointFormatSpec]:
    """Register official checkpoint formats: ``fusion convert FORMAT SOURCE`` and ``model.init.format``.

    Each :class:`fusion.types.CheckpointFormatSpec` has
    ``factory(source: str, target: Mapping[str, tuple[int, ...]]) -> Conversion``: it reads the file
    ``source`` without running code (``fusion_plugins.formats.safe_pickle.load_torch_checkpoint``),
    maps official tensor names to the Fusion names in ``target`` (name -> shape of the model built from
    the recipe) and returns :class:`fusion.types.Conversion` (the mapped tensors with their official
    names, and the official names it did not use). The framework refuses a shape mismatch naming both
    tensors and reports unused and unfilled names.

    :return: ``list[CheckpointFormatSpec]``.
    """


@hookspec
def fusion_add_commands(commands: argparse._SubParsersAction, data_commands: argparse._SubParsersAction) -> None:
    """Add command-line verbs: ``commands.add_parser(...)`` for ``fusion VERB``, ``data_commands.add_parser(...)``
    for ``fusion data VERB`` (the synthact plugin adds ``fusion data synthact``).

    Each parser sets ``func=handler`` with ``set_defaults``; ``handler(args) -> int`` is the exit status and
    raises :class:`fusion.errors.FusionError` for a one-sentence error. Import heavy modules inside the
    handler: every ``fusion`` invocation builds the parser.

    :param commands: the subparsers of ``fusion``.
    :param data_commands: the subparsers of ``fusion data``.
    :return: nothing.
    """


@hookspec(firstresult=True)
def fusion_run_protocol(run_dir: Path, protocol: str, options: dict[str, Any], overrides: list[str],
                        trust_plugins: bool) -> dict[str, Any] | None:
    """Run a representation-evaluation protocol on a finished run (``fusion eval RUN --protocol NAME``).

    The first plugin that returns a result wins (the ssl plugin runs linear, knn, finetune, semi, fewshot).

    :param run_dir: the finished run's directory.
    :param protocol: the protocol name given on the command line.
    :param options: the command's protocol options (checkpoint, init, epochs, lr, k, fraction, seeds, ...).
    :param overrides: recipe overrides ``key.sub=value`` for the evaluation.
    :param trust_plugins: whether the run's own ``plugins:`` may be imported.
    :return: the result (``top1``, optional ``top1_std``, ``output`` path), or None to leave it to another plugin.
    """


@hookspec
def fusion_recipe_loaded(recipe: dict[str, Any]) -> None:
    """Called once per command with the loaded recipe, before anything is built (from
    :func:`fusion.train.build.registry_for`, which every command goes through); may check or annotate it.

    :param recipe: the resolved recipe (defaults filled, schema-validated). Mutating it is allowed but
        discouraged: the recipe written to the run directory is the one after this hook.
    :return: nothing.
    """


@hookspec
def fusion_run_event(event: str, state: dict[str, Any]) -> None:
    """Called by ``fusion train`` on the main process at ``"start"``, ``"epoch_end"``, ``"checkpoint"`` and ``"end"``.

    :param event: one of ``"start"``, ``"epoch_end"``, ``"checkpoint"``, ``"end"``.
    :param state: a copy (read-only by convention) with ``run_dir``, ``epoch``, ``batch_in_epoch``,
        ``global_step``, ``best_top1``, ``best_epoch`` (once validated) and ``history`` (the epoch records), plus
        per event: ``epoch_end`` the epoch's record (``epoch``, ``loss``, ``lr``, ``val_top1`` ... when validated),
        ``checkpoint`` ``name`` (``last`` / ``best``) and the saved ``epoch``, ``end`` the run's ``summary``.
    :return: nothing.
    """
