"""The checkpoints plugin: official checkpoint formats for ``fusion convert`` and ``model.init.format``."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import CheckpointFormatSpec


@hookimpl
def fusion_add_checkpoint_formats() -> list[CheckpointFormatSpec]:
    from fusion_plugins.checkpoints.formats import FORMATS

    return [CheckpointFormatSpec(name=name, factory=convert, doc=doc) for name, (convert, doc) in FORMATS.items()]
