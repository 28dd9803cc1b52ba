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


_SEQUENCES = (list, tuple, cabc.Sequence, cabc.Iterable, set, frozenset, cabc.Collection, cabc.MutableSequence)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)


def check_type(key: str, value: Any, tp) -> None:
    """Raise :class:`RecipeError` unless the recipe ``value`` fits annotation ``tp``; ``key`` names it, and the
    error names the deepest item that does not fit (``key[1]``, ``key.sub``)."""
    if _fits(value, tp):
        return
    origin, args = _origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # the member of the value's shape gives the deepest message
        shaped = [a for a in args if (_origin(a) in _SEQUENCES and isinstance(value, (list, tuple)))
                  or (_origin(a) in _MAPPINGS and isinstance(value, dict))]
        if len(shaped) == 1:
            return check_type(key, value, shaped[0])
    elif isinstance(value, (list, tuple)) and origin in _SEQUENCES and args:
        fixed = origin is tuple and args[-1] is not Ellipsis
        if not fixed or len(value) == len(args):
            for i, item in enumerate(value):
                check_type(f"{key}[{i}]", item, args[i] if fixed else args[0])
    elif isinstance(value, dict) and origin in _MAPPINGS and len(args) == 2:
        for sub, item in value.items():
            check_type(f"{key}.{sub}", item, args[1])
    raise RecipeError(f"{key}: expected {describe(tp)}, got {_given(value)}")


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
    factory = inspect.unwrap(factory)  # a LazyFactory: the real factory
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


#: Parameters the framework fills, per kind (not set from a recipe; ``fusion list --args`` leaves them out).
FRAMEWORK_ARGS: dict[str, tuple[str, ...]] = {
    "mixer": ("dims", "num_classes", "roles"), "head": ("in_dim", "num_classes"), "dataset": ("split",),
}


def _param_docs(factory) -> dict[str, str]:
    """``name: text`` lines of the factory's (or class's) docstring ``Args:`` section, joined per parameter."""
    docs: dict[str, str] = {}
    factory = inspect.unwrap(factory)
    text = inspect.getdoc(factory) or ""
    if inspect.isclass(factory):
        text += "\n" + (inspect.getdoc(factory.__init__) or "")
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        head, sep, rest = stripped.partition(":")
        names = [n.strip(" `") for n in head.split(",")]
        if sep and names and all(n.isidentifier() for n in names) and line.startswith((" ", "\t")):
            current = names
            for n in names:
                docs[n] = rest.strip()
        elif current and stripped and line.startswith("        "):
            for n in current:
                docs[n] += " " + stripped
        else:
            current = None
    return docs


def describe_args(spec) -> list[dict[str, str]]:
    """One row per recipe argument of ``spec.factory``: name, type (in words), default, doc."""
    try:
        params = inspect.signature(spec.factory).parameters
    except (TypeError, ValueError):
        return []
    annotations, docs = hints(spec.factory), _param_docs(spec.factory)
    nested = dict(getattr(spec, "nested", None) or {})
    skip = set(FRAMEWORK_ARGS.get(spec.kind, ())) | {"ctx", "self"}
    if spec.kind == "head":  # (in_dim, num_classes) come first, positionally
        skip |= set(list(params)[:2])
    rows = []
    for name, param in params.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in nested:
            kind, _, args_key = nested[name].partition("@")
            depth = kind.count("[]")
            kind = kind.replace("[]", "")
            type_text = (f"{kind} name (args in {args_key})" if args_key else
                         ("list of " * depth) + f"{kind} block {{name, args}}")
        else:
            type_text = describe(annotations.get(name, param.annotation))
        default = "required" if param.default is param.empty else repr(param.default)
        rows.append({"name": name, "type": type_text, "default": default, "doc": docs.get(name, "")})
    return rows
