"""Recipes: YAML files that name every piece of an experiment.

``load_recipe(path, overrides)`` reads YAML with a ``yaml.SafeLoader`` (data only, never code; a key
written twice is an error), follows ``base:`` (a path or list of paths relative to the file,
deep-merged in order, the file itself last), applies command-line overrides ``key.sub=value`` (values parsed as YAML), fills defaults and
validates: an unknown key, a value of the wrong type or an unknown component name is reported with
the key's dotted path, the bad value and what is allowed (with close-match suggestions).
"""

from __future__ import annotations

import copy
import difflib
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from fusion.errors import RecipeError
from fusion.recipe_ranges import check_ranges
from fusion.recipe_yaml import load_yaml, read_recipe_text
from fusion.registry import Registry, unknown_name_message

ANY = object()
#: A component block: ``{name: str, args: dict}``; checked against the registry kind given.
COMPONENT = "component"

DEFAULTS: dict[str, Any] = {
    "name": None,
    "plugins": [],
    "data": {
        "dataset": None,
        "modalities": None,
        "train_split": "train",
        "test_split": "test",
        "val_split": "auto",  # fusion/data/validation.py: auto | none | a split name
        "val_fraction": 0.1,
        "val_seed": 0,
        "transforms": {"train": [], "test": []},
        "num_workers": 0,
        "on_error": "fail",
        "modality_dropout": 0.0,
    },
    "model": {
        "num_classes": None, "encoders": {}, "mixer": None, "head": {"name": "linear", "args": {}}, "init": None, "freeze": [],
    },
    "objective": {"name": "classify", "args": {}},
    "train": {
        "epochs": 10,
        "batch_size": 32,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": False, "decay_all": False},
        "schedule": {"name": "cosine", "warmup_epochs": 0, "milestones": [], "gamma": 0.1, "min_lr": 0.0},
        "precision": "no",
        "accumulate": 1,
        "clip_grad": None,
        "seed": 0,
        "eval_every": 1,
        "checkpoint_every_steps": 0,
        "log_every": 10,
        "max_steps": 0,
        "find_unused_parameters": False,
        "drop_last": False,
        "threads": None,
        "compile": False,
        "log_with": ["tensorboard"],
    },
    "eval": {"batch_size": 64, "split": None, "drop": [], "checkpoint": "best", "corruption": None, "clips": 1,
             "precise_bn": {"batches": 50}, "metrics": []},
}

# Allowed types per key: a type, a tuple of types, a nested dict (a section), a list of allowed
# values (an enum), ANY, or COMPONENT:<kind>.
SCHEMA: dict[str, Any] = {
    "base": (str, list),
    "name": (str, type(None)),
    "plugins": list,
    "data": {
        "dataset": f"{COMPONENT}:dataset",
        "modalities": (list, type(None)),
        "train_split": str,
        "test_split": str,
        "val_split": str,
        "val_fraction": (int, float),
        "val_seed": int,
        "transforms": {"train": list, "test": list},
        "num_workers": int,
        "on_error": ["fail", "skip"],
        "modality_dropout": (int, float),
    },
    "model": {
        "num_classes": (int, type(None)),
        "encoders": dict,
        "mixer": (f"{COMPONENT}:mixer"),
        "head": (f"{COMPONENT}:head?"),
        "init": (dict, list, type(None)),
        "freeze": list,
    },
    "objective": f"{COMPONENT}:objective",
    "train": {
        "epochs": int,
        "batch_size": int,
        "optimizer": {
            "name": ["sgd", "adam", "adamw"],
            "lr": (int, float),
            "momentum": (int, float),
            "weight_decay": (int, float),
            "nesterov": bool,
            "betas": list,
            "decay_all": bool,
        },
        "schedule": {
            "name": ["cosine", "step", "constant", "plateau"],
            "warmup_epochs": (int, float),
            "milestones": list,
            "gamma": (int, float),
            "min_lr": (int, float),
            "factor": (int, float),
            "patience": int,
            "per_epoch": bool,
        },
        "precision": ["no", "bf16", "fp16"],
        "accumulate": int,
        "clip_grad": (int, float, type(None)),
        "seed": int,
        "eval_every": int,
        "checkpoint_every_steps": int,
        "log_every": int,
        "max_steps": int,
        "find_unused_parameters": bool,
        "drop_last": bool,
        "threads": (int, type(None)),
        "compile": bool,
        "log_with": list,
    },
    "eval": {
        "batch_size": int,
        "split": (str, type(None)),
        "drop": list,
        "checkpoint": ["best", "last"],
        "corruption": (dict, type(None)),
        "clips": int,
        "precise_bn": (dict, bool),
        "metrics": list,
    },
}


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict: ``override`` merged into ``base`` recursively (dicts merge, everything else replaces).

    A component block (``{name, args}``) whose ``name`` changes does not inherit the base's ``args``:
    they were arguments of another component (a dataset wrapped by ``labelled_subset``, another encoder).
    """
    out = copy.deepcopy(base)
    renamed = "name" in override and "name" in out and override["name"] != out["name"]
    if renamed and isinstance(out.get("args"), dict):
        out["args"] = {}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (YAML keeps the last silently,
    so a second ``eval:`` section would erase the first)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:  # SafeLoader reports unhashable keys itself
                break
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"key {key!r} appears twice (first on line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict:
    """The recipe mapping in ``path``; a directory, a pipe, non-UTF-8, too deep or alias-bomb YAML is a RecipeError
    (see :mod:`fusion.recipe_yaml`)."""
    data = load_yaml(read_recipe_text(path), str(path), UniqueKeyLoader)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}")
    return data


#: Longest chain of ``base:`` files (recipes use 1-3; the resolution recurses).
MAX_BASE_DEPTH = 32


def _resolve_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise RecipeError(f"recipe inheritance loops: {chain}")
    if len(seen) >= MAX_BASE_DEPTH:
        raise RecipeError(f"{path}: recipe inheritance is more than {MAX_BASE_DEPTH} 'base:' files deep "
                          f"(from {seen[0]})")
    data = read_yaml(path)
    bases = data.pop("base", None) or []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b and "\0" not in b for b in bases):
        raise RecipeError(f"{path}: 'base' must be a path or a list of paths, got {bases!r}")
    merged: dict = {}
    for base in bases:
        merged = deep_merge(merged, _resolve_bases(path.parent / base, (*seen, path)))
    return deep_merge(merged, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.optimizer.lr=0.01"`` → (["train", "optimizer", "lr"], 0.01); values parsed as YAML."""
    if "=" not in text:
        raise RecipeError(f"override {text!r} must look like key.sub=value")
    key, _, raw = text.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise RecipeError(f"override {text!r} has an empty key part")
    value = load_yaml(raw, f"override {text[:80]!r}: value", yaml.SafeLoader) if raw.strip() else None
    return parts, value


def apply_overrides(recipe: dict, overrides: Iterable[str]) -> dict:
    recipe = copy.deepcopy(recipe)
    for text in overrides:
        parts, value = parse_override(text)
        node = recipe
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return recipe


def load_recipe(path: str | Path, overrides: Iterable[str] = (), registry: Registry | None = None) -> dict:
    """Read, inherit, override, fill defaults and validate a recipe; returns a plain dict."""
    raw = _resolve_bases(Path(path))
    raw = apply_overrides(raw, overrides)
    recipe = deep_merge(DEFAULTS, raw)
    recipe["source"] = str(Path(path))
    validate(recipe, registry)
    return recipe


def from_dict(data: dict, registry: Registry | None = None) -> dict:
    """Fill defaults and validate a recipe given as a dict (tests and notebooks)."""
    recipe = deep_merge(DEFAULTS, data)
    validate(recipe, registry)
    return recipe


# ---------------------------------------------------------------------------------------------
# Validation


def _type_names(allowed) -> str:
    types = allowed if isinstance(allowed, tuple) else (allowed,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check_value(key: str, value: Any, allowed: Any, registry: Registry | None) -> None:
    if allowed is ANY:
        return
    if isinstance(allowed, str) and allowed.startswith(COMPONENT):
        kind = allowed.split(":", 1)[1]
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        if value is None and (optional or kind == "mixer"):
            return
        check_component(key, value, kind, registry)
        return
    if isinstance(allowed, dict):
        if not isinstance(value, dict):
            raise RecipeError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        for sub, sub_value in value.items():
            if sub not in allowed:
                raise RecipeError(_unknown_key_message(f"{key}.{sub}", sub, allowed))
            _check_value(f"{key}.{sub}", sub_value, allowed[sub], registry)
        return
    if isinstance(allowed, list):
        if value not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"{key}: {value!r} is not allowed{hint}; allowed values: {', '.join(map(str, allowed))}")
        return
    types = allowed if isinstance(allowed, tuple) else (allowed,)
    if isinstance(value, bool) and bool not in types:
        raise RecipeError(f"{key}: expected {_type_names(allowed)}, got bool {value!r}")
    if not isinstance(value, types):
        raise RecipeError(f"{key}: expected {_type_names(allowed)}, got {type(value).__name__} {value!r}")


def _unknown_key_message(path: str, key: str, allowed: dict) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown recipe key {path!r}{hint}; allowed here: {', '.join(sorted(allowed))}"


def check_component(key: str, block: Any, kind: str, registry: Registry | None, skip: int = 0) -> None:
    """Check ``{name, args}``: the name is registered and every arg is a parameter of its factory, of its type.

    Arguments the spec declares as nested component blocks (``ComponentSpec.nested``) are checked the
    same way, recursively, with the full key path in errors. ``skip`` is unused (kept for callers).
    """
    if not isinstance(block, dict) or "name" not in block:
        raise RecipeError(f"{key}: expected a mapping with 'name' (and optional 'args'), got {block!r}")
    extra = set(block) - {"name", "args", "roles"}
    if extra:
        raise RecipeError(_unknown_key_message(f"{key}.{sorted(extra)[0]}", sorted(extra)[0], {"name": 0, "args": 0}))
    args = block.get("args") or {}
    if not isinstance(args, dict):
        raise RecipeError(f"{key}.args: expected a mapping, got {type(args).__name__} {args!r}")
    if registry is None:
        return
    if block["name"] not in registry.specs[kind]:
        raise RecipeError(f"{key}.name: " + unknown_name_message(kind, block["name"], registry.names(kind)))
    spec = registry.get(kind, block["name"])
    check_args(f"{key}.args", spec.factory, args, spec=spec, registry=registry)


#: Parameters the framework fills when it builds a component; a recipe may not set them.
FRAMEWORK_PARAMS = {"ctx"}


def check_args(key: str, factory, args: dict, spec=None, registry: Registry | None = None) -> None:
    """Every key in ``args`` is a keyword parameter of ``factory`` and its value fits the annotation.

    ``spec.nested`` names the arguments that are component blocks; with a ``registry`` they are checked
    recursively (:func:`check_nested`), otherwise only their shape is left to the build.
    """
    from fusion.argtypes import check_type, hints

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    from fusion.argtypes import FRAMEWORK_ARGS

    framework = FRAMEWORK_PARAMS | set(FRAMEWORK_ARGS.get(getattr(spec, "kind", ""), ()))
    if getattr(spec, "kind", "") == "head":  # (in_dim, num_classes), whatever their names
        framework |= set(list(params)[:2])
    accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - framework
    for name in args:
        if name in framework:
            raise RecipeError(f"{key}.{name}: is set by the framework, remove it from the recipe")
        if name not in accepted and not open_kwargs:
            raise RecipeError(_unknown_key_message(f"{key}.{name}", name, dict.fromkeys(accepted)))
    if spec is not None:  # a required argument the recipe does not give: one sentence now, not a TypeError later
        from fusion.argtypes import FRAMEWORK_ARGS, describe

        filled = set(FRAMEWORK_ARGS.get(spec.kind, ())) | FRAMEWORK_PARAMS
        if spec.kind == "head":  # called with (in_dim, num_classes) positionally, whatever the names
            filled |= set(list(params)[:2])
        for name, p in params.items():
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) \
                    and name not in filled and name not in args:
                raise RecipeError(f"{key}.{name}: required ({describe(hints(factory).get(name, p.annotation))}), "
                                  "not given")
    nested = dict(getattr(spec, "nested", None) or {})
    inner_args = {d.partition("@")[2] for d in nested.values()} - {""}  # checked with their component
    annotations = hints(factory)
    for name, value in args.items():
        if name in inner_args and registry is not None:
            continue
        if name in nested:
            if registry is not None:
                check_nested(f"{key}.{name}", value, nested[name], args, registry)
            continue
        if name in annotations and name in params:
            check_type(f"{key}.{name}", value, annotations[name])


def check_nested(key: str, value: Any, declared: str, args: dict, registry: Registry) -> None:
    """Check a nested component argument declared as ``kind`` (a block), ``kind[]`` (a list of blocks),
    ``kind[][]`` (a list of lists of blocks) or ``kind@other`` (a registry name whose args are in ``other``)."""
    kind, _, args_key = declared.partition("@")
    depth = kind.count("[]")
    kind = kind.replace("[]", "")
    if args_key:
        if value is None:
            return
        if not isinstance(value, str):
            raise RecipeError(f"{key}: expected a registered {kind} name, got {type(value).__name__} {value!r}")
        if value not in registry.specs[kind]:
            raise RecipeError(f"{key}: " + unknown_name_message(kind, value, registry.names(kind)))
        inner, inner_key = args.get(args_key) or {}, f"{key.rsplit('.', 1)[0]}.{args_key}"
        if not isinstance(inner, dict):
            raise RecipeError(f"{inner_key}: expected a mapping, got {type(inner).__name__} {inner!r}")
        spec = registry.get(kind, value)
        check_args(inner_key, spec.factory, inner, spec=spec, registry=registry)
        return
    if value is None:
        return
    if depth == 0:
        check_component(key, value, kind, registry)
        return
    if not isinstance(value, (list, tuple)):
        raise RecipeError(f"{key}: expected a list of {kind} blocks {{name, args}}, got {type(value).__name__} {value!r}")
    inner = kind + "[]" * (depth - 1)
    for i, item in enumerate(value):
        check_nested(f"{key}[{i}]", item, inner, args, registry)


def validate(recipe: dict, registry: Registry | None = None) -> None:
    """Raise :class:`RecipeError` naming the first bad key; check component names if a registry is given."""
    for key, value in recipe.items():
        if key == "source":
            continue
        if key not in SCHEMA:
            raise RecipeError(_unknown_key_message(key, key, SCHEMA))
        _check_value(key, value, SCHEMA[key], registry)
    for modality, block in (recipe["model"]["encoders"] or {}).items():
        check_component(f"model.encoders.{modality}", block, "encoder", registry)
    for i, block in enumerate(recipe["eval"].get("metrics") or []):
        check_component(f"eval.metrics[{i}]", block, "metric", registry)
    for phase in ("train", "test"):
        for i, block in enumerate(recipe["data"]["transforms"][phase]):
            check_component(f"data.transforms.{phase}[{i}]", block, "transform", registry)
    if recipe["data"]["dataset"] is None:
        raise RecipeError("data.dataset: every recipe needs a dataset, e.g. {name: synthact}")
    if not recipe["model"]["encoders"]:
        raise RecipeError("model.encoders: name at least one encoder, e.g. {skeleton: {name: stgcn}}")
    from fusion.train.init import check_init

    check_init(recipe["model"]["init"], registry)
    if recipe["eval"]["clips"] < 1:
        raise RecipeError(f"eval.clips: {recipe['eval']['clips']}; expected at least 1 test clip per sample")
    check_ranges(recipe)


def dump_recipe_text(recipe: dict) -> str:
    return yaml.safe_dump(recipe, sort_keys=False)


def dump_recipe(recipe: dict, path: Path) -> None:
    path.write_text(dump_recipe_text(recipe))
