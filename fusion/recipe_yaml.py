"""Reading recipe YAML so that no file can hang, exhaust memory or print a traceback.

A recipe is a few kB of text. The reader refuses a directory, a named pipe or a file over
:data:`MAX_RECIPE_BYTES`, non-UTF-8 bytes, nesting deeper than :data:`MAX_DEPTH`, and alias
expansion ("billion laughs": ``b: [*a, *a, ...]`` repeated) or a self-referencing alias that
would make a structure of more than :data:`MAX_NODES` values once copied or written out; each
with one :class:`RecipeError` sentence naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from fusion.errors import RecipeError

#: Largest recipe file read: real recipes are under 4 kB, and pure-Python YAML parsing costs about
#: 1 kB of memory and 40 us per byte, so 64 kB stays under 100 MB and 3 s.
MAX_RECIPE_BYTES = 64 << 10
#: Deepest nesting of mappings and lists (recipes nest about 6 levels).
MAX_DEPTH = 64
#: Most values a recipe may expand to, aliases counted at every use.
MAX_NODES = 200_000


def read_recipe_text(path: Path) -> str:
    """The UTF-8 text of recipe ``path`` (BOM dropped); anything else is one RecipeError sentence."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory, expected a recipe .yaml file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in a base: path
        raise RecipeError(f"{path}: cannot read the recipe: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise RecipeError(f"{path}: is a directory, expected a recipe .yaml file")
        if not stat.S_ISREG(info.st_mode):
            raise RecipeError(f"{path}: is not a regular file (a named pipe or device?), expected a recipe .yaml file")
        data = os.read(fd, MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: the recipe is larger than {MAX_RECIPE_BYTES // 1024} kB; recipes are small YAML "
                          f"files (is this the right file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); recipes are UTF-8 YAML") from None


def load_yaml(text: str, source: str, loader: type) -> Any:
    """``yaml.load(text, loader)`` with the depth and expansion limits; errors name ``source``."""
    if _bracket_depth(text) > MAX_DEPTH:  # flow-style nesting, found before the recursive parser meets it
        raise RecipeError(f"{source}: YAML nested more than {MAX_DEPTH} levels deep; recipes are far shallower")
    try:
        data = yaml.load(text, Loader=loader)  # a SafeLoader subclass: no Python objects, no code
    except yaml.YAMLError as exc:
        raise RecipeError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise RecipeError(f"{source}: YAML nested too deeply (recipes nest at most {MAX_DEPTH} levels)") from None
    except (ValueError, OverflowError) as exc:  # an integer of thousands of digits, a date out of range
        raise RecipeError(f"{source}: unusable YAML value: {str(exc)[:160]}") from None
    check_structure(data, source)
    return data


def _bracket_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of ``text`` (brackets inside quotes counted too: an over-estimate)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def check_structure(data: Any, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, self-reference and alias expansion beyond MAX_NODES.

    Iterative, with each shared (aliased) container measured once, so the check itself costs the
    size of the parsed document, not of its expansion.
    """
    sizes: dict[int, int] = {}  # id -> expanded size of a finished container
    active: set[int] = set()  # containers on the current path (a cycle revisits one)
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        key = id(node)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[key] > MAX_NODES:
                raise RecipeError(f"{source}: the YAML holds more than {MAX_NODES} values once its aliases are "
                                  f"expanded (aliases repeated inside aliases?); a recipe is far smaller")
            continue
        if key in sizes:
            continue
        if key in active:
            raise RecipeError(f"{source}: a YAML alias refers to itself (a recursive structure); recipes cannot hold one")
        if depth > MAX_DEPTH:
            raise RecipeError(f"{source}: YAML nested more than {MAX_DEPTH} levels deep; recipes are far shallower")
        active.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if isinstance(c, (dict, list)))
