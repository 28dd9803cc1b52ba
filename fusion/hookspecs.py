"""Every hook a Fusion plugin may implement, each documented here and nowhere else.

A plugin is a plain module of functions decorated with ``@fusion.hookimpl``, discovered through
the ``fusion.plugins`` entry-point group (or listed under a recipe's ``plugins:``). Hooks are
called with keyword arguments only; an implementation may declare any subset of a hook's
arguments. Registration hooks return a list of spec records from :mod:`fusion.types`; the
registry adds the plugin's name to each record and rejects names given by two plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("fusion")
hookimpl = pluggy.HookimplMarker("fusion")


@hookspec
def fusion_add_modalities():
    """Return ``list[ModalitySpec]``: modality names with their raw→batch layout conversion.

    A modality name is the key a sample and a batch use (``skeleton``, ``rgb``, ``depth``,
    ``pointcloud``, ``pose2d``...). Collate uses the spec's factory to turn each sample's array into
    its batch layout.
    """


@hookspec
def fusion_add_encoders():
    """Return ``list[EncoderSpec]``: encoders per modality and the Features fields they provide.

    ``factory(**args) -> nn.Module`` whose ``forward(x)`` takes the modality's batch tensor and
    returns :class:`fusion.types.Features`; the module must expose ``out_dim`` (the feature size D).
    """


@hookspec
def fusion_add_mixers():
    """Return ``list[MixerSpec]``: fusion modules and what they need from each role.

    ``factory(dims: dict[str, int], num_classes: int, roles: dict[str, str], **args) -> nn.Module``;
    ``forward(features: dict[str, Features], masks: dict[str, BoolTensor]) -> MixerOutput``.
    ``out_dim`` gives the size of ``fused``. Missing modalities (mask False) are normal input.
    """


@hookspec
def fusion_add_heads():
    """Return ``list[HeadSpec]``: ``factory(in_dim, num_classes, **args) -> nn.Module``."""


@hookspec
def fusion_add_objectives():
    """Return ``list[ObjectiveSpec]``: training objectives (classify, lifting, pretext tasks, ...).

    ``factory(**args) -> nn.Module`` with ``forward(model, batch) -> (loss, outputs: dict)``.
    The objective is wrapped together with the model for data parallelism, so parameters it owns
    (decoders, projectors, queues as buffers) are trained and synchronised like the model's.
    """


@hookspec
def fusion_add_datasets():
    """Return ``list[DatasetSpec]``: ``factory(split, **args) -> Dataset`` of raw samples."""


@hookspec
def fusion_add_transforms():
    """Return ``list[TransformSpec]``: per-sample transforms on raw numpy samples.

    ``factory(**args) -> callable(sample, rng: numpy.random.Generator) -> sample``. The generator is
    seeded from (seed, epoch, sample index) so runs are reproducible and resumable.
    """


@hookspec
def fusion_add_metrics():
    """Return ``list[MetricSpec]``: ``factory(**args) -> callable(scores, labels) -> dict``."""


@hookspec
def fusion_add_input_formats() -> list:
    """Register the files and folders ``fusion predict`` can read (a user's own data, one sample at a time).

    Each :class:`fusion.types.InputFormatSpec` has ``accepts(path: str) -> bool`` and
    ``factory(path: str, frames: int | None, max_bodies: int) -> list[Sample]``: ``frames`` is the
    number of frames the run's dataset sampled (None: all), ``max_bodies`` the persons it kept.
    Samples carry ``meta["id"]``, ``meta["layout"]`` for joints and ``meta["bones"]`` (pairs of
    joint indices, for overlays) when they have joints.

    :return: ``list[InputFormatSpec]``.
    """


@hookspec
def fusion_add_pose_estimators() -> list:
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
def fusion_add_checkpoint_formats() -> list:
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
def fusion_recipe_loaded(recipe):
    """Called with the resolved recipe (a dict) before anything is built; may validate or annotate.

    Mutating the recipe is allowed but discouraged: the resolved recipe written to the run
    directory is the one after this hook.
    """


@hookspec
def fusion_run_event(event, state):
    """Called on run events: ``"start"``, ``"epoch_end"``, ``"eval_end"``, ``"checkpoint"``, ``"end"``.

    ``state`` is a read-only dict (epoch, step, metrics, run_dir). Called on the main process only.
    """
