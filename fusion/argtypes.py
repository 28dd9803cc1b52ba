"""Recipe arguments checked against the factory's type annotations, when the recipe loads.

A recipe value is YAML data: int, float, bool, str, None, lists and mappings. :func:`check_type` accepts
it for an annotation built from those (``int``, ``float`` (an int is fine), ``bool``, ``str``,
``Literal[...]``, an ``Enum`` (by value or name), ``list[X]`` / ``tuple[X, ...]`` / ``Sequence[X]``,
``dict[K, V]`` / ``Mapping``, ``X | None``, unions, paths given as strings) and says in one sentence
what was expected otherwise. Annotations it does not understand (a class, a tensor) accept anything:
those arguments are not set from recipes.
"""

from __future__ import annotations

import collections.abc as cabc
import enum
import inspect
import os
import pathlib
import types
import typing
from typing import Any

from fusion.errors import RecipeError

_NONE = type(None)


def _origin(tp):
    return typing.get_origin(tp)


def describe(tp) -> str:
    """A short readable name for an annotation (``int``, ``list of float``, ``one of 'a', 'b'``)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return "anything"
    if tp is _NONE or tp is None:
        return "null"
    origin, args = _origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable, set, frozenset, cabc.Collection):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return "a list of " + str(len(args)) + " (" + ", ".join(describe(a) for a in args) + ")"
        return f"a list of {describe(args[0])}" if args else "a list"
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        return f"a mapping of {describe(args[0])} to {describe(args[1])}" if args else "a mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if tp in (os.PathLike, pathlib.Path, pathlib.PurePath):
        return "a path"
    return getattr(tp, "__name__", str(tp))


def _given(value) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:57] + '...'}"


def check_type(key: str, value: Any, tp) -> None:
    """Raise :class:`RecipeError` unless the recipe ``value`` fits annotation ``tp``; ``key`` names it."""
    if not _fits(value, tp):
        raise RecipeError(f"{key}: expected {describe(tp)}, got {_given(value)}")
    origin, args = _origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # descend into the member that fits, for the deepest key
        for member in args:
            if _fits(value, member):
                return check_type(key, value, member)
    if isinstance(value, (list, tuple)) and args:
        if origin is tuple and args[-1] is not Ellipsis:
            for i, (item, item_tp) in enumerate(zip(value, args)):
                check_type(f"{key}[{i}]", item, item_tp)
        elif origin in (list, tuple, cabc.Sequence, cabc.Iterable, set, frozenset, cabc.Collection):
            for i, item in enumerate(value):
                check_type(f"{key}[{i}]", item, args[0])
    if isinstance(value, dict) and origin in (dict, cabc.Mapping, cabc.MutableMapping) and len(args) == 2:
        for sub, item in value.items():
            check_type(f"{key}.{sub}", item, args[1])


def _fits(value, tp) -> bool:  # noqa: C901 - one branch per annotation form
    if tp is Any or tp is inspect.Parameter.empty or isinstance(tp, (str, typing.TypeVar)):
        return True
    if tp is None or tp is _NONE:
        return value is None
    origin, args = _origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Annotated:
        return _fits(value, args[0])
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable, set, frozenset, cabc.Collection, cabc.MutableSequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
        return not args or all(_fits(v, args[0]) for v in value)
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        if not isinstance(value, dict):
            return False
        return len(args) != 2 or all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if origin is not None:  # Callable[...], type[...]: not recipe data
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp in (list, tuple, cabc.Sequence):
        return isinstance(value, (list, tuple))
    if tp in (dict, cabc.Mapping):
        return isinstance(value, dict)
    if tp in (os.PathLike, pathlib.Path, pathlib.PurePath):
        return isinstance(value, str)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return any(value == m.value or value == m.name for m in tp)
    if tp is object:
        return True
    if isinstance(tp, type) and tp.__module__ == "builtins":
        return isinstance(value, tp)
    return True  # a class or protocol recipes do not write: not checked here


def hints(factory) -> dict[str, Any]:
    """Resolved annotations of ``factory``'s parameters (a class: its ``__init__``); {} where unresolvable."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # a forward reference that cannot be resolved: fall back per parameter
        raw = getattr(target, "__annotations__", {}) or {}
        out = {}
        module = inspect.getmodule(target)
        namespace = dict(vars(module)) if module else {}
        for name, annotation in raw.items():
            try:
                out[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307
            except Exception:
                continue
        return out
