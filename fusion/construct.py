"""The one public way to build a component from a recipe block: ``fusion.build(kind, block, ctx)``.

A block is ``{name, args}``; ``ctx`` (:class:`BuildContext`) carries the recipe's registry and the key
path of the block, so a component that builds others (a wrapped dataset, a mixer's own pose encoder,
a list of augmentations) asks ``ctx`` instead of reading a global registry: components from a
recipe's ``plugins:`` are then visible at every depth. Framework arguments (a dataset's ``split``, a
mixer's ``dims`` / ``num_classes`` / ``roles``, a head's ``in_dim`` / ``num_classes``) are passed by
the caller; a recipe may not set them. A factory that declares a ``ctx`` parameter receives the
context of its own ``args`` (for error messages and nested builds).

The ``create_*`` functions are thin, timm-style shortcuts with the framework arguments spelled out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fusion.errors import RecipeError
from fusion.registry import Registry
from fusion.types import ComponentSpec

#: Name of the factory parameter through which a component receives its :class:`BuildContext`.
CTX_PARAM = "ctx"


@dataclass(frozen=True)
class BuildContext:
    """What building needs besides the block: the recipe's registry and where in the recipe we are."""

    registry: Registry
    key: str = ""

    def at(self, key: str) -> BuildContext:
        """This context for the block at ``key`` (relative keys are appended to the current path)."""
        if not key:
            return self
        if not self.key:
            return BuildContext(self.registry, key)
        return BuildContext(self.registry, f"{self.key}{key}" if key.startswith("[") else f"{self.key}.{key}")

    def build(self, kind: str, block: Any, key: str = "", *positional, **framework) -> Any:
        """``fusion.build(kind, block, self.at(key), ...)``: a nested component of this one."""
        return build(kind, block, self.at(key), *positional, **framework)

    def build_list(self, kind: str, blocks: Any, key: str = "") -> list:
        """A list of blocks of one kind (an augmentation pipeline), each built with its index in the key."""
        where = self.at(key)
        if not isinstance(blocks, (list, tuple)):
            raise RecipeError(f"{where.key}: expected a list of {kind} blocks {{name, args}}, got {blocks!r}")
        return [build(kind, b, where.at(f"[{i}]")) for i, b in enumerate(blocks)]


def build_spec(kind: str, block: Any, ctx: BuildContext, *positional, **framework) -> tuple[ComponentSpec, Any]:
    """:func:`build`, also returning the spec the block named (the model checks encoders' provisions)."""
    from fusion.recipe import check_args

    key = ctx.key or kind
    if not isinstance(block, Mapping) or "name" not in block:
        raise RecipeError(f"{key}: expected a {kind} block {{name, args}}, got {block!r}")
    spec = ctx.registry.get(kind, block["name"])
    args = dict(block.get("args") or {})
    check_args(f"{key}.args", spec.factory, args, spec=spec)
    clash = set(args) & (set(framework) | {CTX_PARAM})
    if clash:
        raise RecipeError(f"{key}.args: {', '.join(sorted(clash))} is set by the framework, remove it from the recipe")
    if _takes_ctx(spec.factory):
        framework = {**framework, CTX_PARAM: BuildContext(ctx.registry, f"{key}.args")}
    return spec, spec.factory(*positional, **framework, **args)


def build(kind: str, block: Any, ctx: BuildContext, *positional, **framework) -> Any:
    """The component of ``kind`` that ``block`` ({name, args}) names, built with the recipe's registry.

    ``positional`` / ``framework`` are the arguments the framework fills for this kind (see the
    ``create_*`` functions); the block's ``args`` are checked against the factory's signature first.
    """
    return build_spec(kind, block, ctx, *positional, **framework)[1]


def _takes_ctx(factory) -> bool:
    import inspect

    try:
        return CTX_PARAM in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


class LazyFactory:
    """A factory imported on first use, so that loading the plugins stays fast: ``LazyFactory("pkg.mod:Name")``.

    ``inspect.signature`` sees the real factory's signature (through ``__wrapped__``), so recipe arguments
    are checked by name and type without a ``**kwargs`` pass-through.
    """

    def __init__(self, target: str, doc: str = ""):
        self.target, self.__doc__ = target, doc

    @property
    def __wrapped__(self):
        import importlib

        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyFactory({self.target!r})"


def context(registry: Registry, key: str = "") -> BuildContext:
    """A context over ``registry`` (``fusion.train.build.registry_for(recipe)`` gives a recipe's)."""
    return BuildContext(registry, key)


def create_encoder(block: Mapping, ctx: BuildContext, **fixed) -> Any:
    """An encoder ``nn.Module`` with ``out_dim``; ``fixed`` are arguments the caller sets (e.g. a mixer's
    ``in_channels`` for its own pose encoder), which the block's ``args`` may not repeat."""
    return build("encoder", block, ctx, **fixed)


def create_mixer(block: Mapping, ctx: BuildContext, dims: Mapping[str, int], num_classes: int,
                 roles: Mapping[str, str]) -> Any:
    """A mixer over encoders of output sizes ``dims`` (modality -> D)."""
    return build("mixer", block, ctx, dims=dict(dims), num_classes=num_classes, roles=dict(roles))


def create_head(block: Mapping, ctx: BuildContext, in_dim: int, num_classes: int) -> Any:
    """A head mapping the fused (B, in_dim) vector to (B, num_classes) logits."""
    return build("head", block, ctx, in_dim, num_classes)


def create_objective(block: Mapping, ctx: BuildContext) -> Any:
    """An objective module ``forward(model, batch) -> (loss, outputs)``."""
    return build("objective", block, ctx)


def create_dataset(block: Mapping, ctx: BuildContext, split: str) -> Any:
    """The dataset of raw samples for ``split``."""
    return build("dataset", block, ctx, split=split)


def create_transform(block: Mapping, ctx: BuildContext) -> Any:
    """A per-sample transform ``(sample, rng) -> sample``."""
    return build("transform", block, ctx)


def create_transforms(blocks: Sequence[Mapping], ctx: BuildContext) -> list:
    """A list of transforms (an augmentation pipeline)."""
    return ctx.build_list("transform", blocks)


def create_metric(block: Mapping, ctx: BuildContext) -> Any:
    """A metric ``(scores, labels) -> dict``."""
    return build("metric", block, ctx)


#: The public construction API (``fusion.build`` and its shortcuts); the count is reported in the docs.
__all__ = [
    "BuildContext", "LazyFactory", "context", "build", "build_spec", "create_encoder", "create_mixer", "create_head",
    "create_objective", "create_dataset", "create_transform", "create_transforms", "create_metric",
]
