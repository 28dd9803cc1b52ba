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
