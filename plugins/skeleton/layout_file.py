"""Custom skeleton layouts declared in YAML, so a new keypoint convention needs no Python.

A layout file names the joints in array order and the bone tree; everything else (graph partitions,
bone streams, flips, centring) follows, exactly as for the built-in layouts::

    name: lab15                      # optional; default: the file name without .yaml
    joints: [pelvis, spine, neck, head, left_shoulder, left_elbow, left_wrist, ...]
    bones: [[spine, pelvis], [neck, spine], [head, neck], ...]   # [child, parent]; a tree
    centre: spine                    # root of the tree, the graph's centre
    origin: pelvis                   # optional; the joint skeleton.center subtracts (default: centre)
    parts: {torso: [pelvis, spine, neck, head], left_arm: [...], ...}   # optional
    flip: [[l_hand, r_hand]]         # optional extra left/right pairs; left_*/right_* pair by name
    doc: Our lab's 15-joint tracker  # optional

Wherever a recipe names a layout (``layout: ntu25``) it may give such a file instead
(``layout: layouts/lab15.yaml``, relative to the working directory, or absolute); the file is read
once per process and registered under its ``name``. A plugin can register files at import time with
``register_layout(load_layout_file(path))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fusion.data.limits import read_limited_text
from fusion.errors import RecipeError, first_line

#: Keys a layout file may hold.
KEYS = ("name", "joints", "bones", "centre", "origin", "parts", "flip", "doc")
SUFFIXES = (".yaml", ".yml")


def is_layout_file(name: object) -> bool:
    return isinstance(name, str) and name.lower().endswith(SUFFIXES)


def _names(value: Any, path: Path, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RecipeError(f"{path}: {key} must be a list of joint names, got {value!r:.80}")
    return list(value)


def _pairs(value: Any, path: Path, key: str) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(j, str) for j in p) for p in value
    ):
        raise RecipeError(f"{path}: {key} must be a list of [joint, joint] name pairs, got {value!r:.80}")
    return [(a, b) for a, b in value]


def parse_layout(data: Any, path: Path, default_name: str):
    """A :class:`SkeletonLayout` from a layout file's mapping; one sentence naming the file and key if wrong."""
    from fusion_plugins.skeleton.layouts import SkeletonLayout, make_layout

    if not isinstance(data, Mapping):
        raise RecipeError(f"{path}: a layout file must be a mapping with joints, bones and centre")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise RecipeError(f"{path}: unknown key(s) {', '.join(unknown)}; a layout file has {', '.join(KEYS)}")
    for key in ("joints", "bones", "centre"):
        if key not in data:
            raise RecipeError(f"{path}: missing key {key!r} (a layout needs joints, bones and centre)")
    joints = _names(data["joints"], path, "joints")
    if len(set(joints)) != len(joints):
        twice = sorted({j for j in joints if joints.count(j) > 1})
        raise RecipeError(f"{path}: joints {', '.join(twice)} are listed twice; expected unique names")
    known = set(joints)
    bones = _pairs(data["bones"], path, "bones")
    flips = _pairs(data.get("flip") or [], path, "flip")
    parts = data.get("parts") or {"all": joints}
    if not isinstance(parts, Mapping):
        raise RecipeError(f"{path}: parts must map a part name to a list of joints, got {parts!r:.80}")
    parts = {str(k): _names(v, path, f"parts.{k}") for k, v in parts.items()}
    named = [("centre", data["centre"]), ("origin", data.get("origin") or data["centre"])]
    named += [(f"bones[{i}]", j) for i, pair in enumerate(bones) for j in pair]
    named += [(f"flip[{i}]", j) for i, pair in enumerate(flips) for j in pair]
    named += [(f"parts.{p}", j) for p, names in parts.items() for j in names]
    for key, joint in named:
        if joint not in known:
            raise RecipeError(f"{path}: {key} names joint {joint!r}, which is not in joints")
    name = str(data.get("name") or default_name)
    try:
        layout = make_layout(name, joints, bones, centre=data["centre"], parts=parts, origin=data.get("origin"),
                             doc=str(data.get("doc") or f"declared in {path.name}"))
        if flips:
            flip = list(layout.flip)
            for a, b in flips:
                flip[joints.index(a)], flip[joints.index(b)] = joints.index(b), joints.index(a)
            layout = SkeletonLayout(**{**layout.__dict__, "flip": tuple(flip)})
        layout.parents()  # a tree rooted at the centre, or one sentence now rather than inside an encoder
    except RecipeError:
        raise
    except Exception as error:  # RegistryError from the layout's own checks
        raise RecipeError(f"{path}: {error}") from None
    return layout


_LOADED: dict[tuple[str, float], Any] = {}


def load_layout_file(path: str | Path):
    """Read, check and register the layout in ``path`` (cached per file and modification time)."""
    from fusion_plugins.skeleton.layouts import register_layout

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such layout file (a layout is a registered name or a .yaml file)")
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _LOADED:
        try:
            data = yaml.safe_load(read_limited_text(path, "layout file"))
        except yaml.YAMLError as error:
            raise RecipeError(f"{path}: not valid YAML ({first_line(error)})") from None
        _LOADED[key] = register_layout(parse_layout(data, path, path.stem.split(".")[0]))
    return _LOADED[key]
