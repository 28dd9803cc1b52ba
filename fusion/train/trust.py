"""A run's ``plugins:`` import code: load them from a run directory only if you made the run or trust it.

A recipe's ``plugins:`` names Python modules that Fusion imports, so a run directory someone else made
(a downloaded or shared one) could run code on ``fusion eval`` / ``fusion predict``. The rule:

* modules of installed plugin packages (those providing ``fusion.plugins`` entry points, and the
  ``fusion`` package itself) are always allowed: installing them was the decision to trust them;
* any other module is imported only if this user trained the run on this machine, recorded as the
  SHA-256 of its ``recipe.yaml`` in a trust file outside the run (``$FUSION_STATE_DIR``, default
  ``$XDG_STATE_HOME/fusion`` or ``~/.local/state/fusion``), which a run's author cannot forge; or if
  the user passes ``--trust-plugins``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
from pathlib import Path

from fusion.errors import FusionError

TRUST_FILE = "trusted-recipes.txt"


def state_dir() -> Path:
    if os.environ.get("FUSION_STATE_DIR"):
        return Path(os.environ["FUSION_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "fusion"


def installed_packages() -> set[str]:
    """Top-level packages that provide installed ``fusion.plugins`` entry points, plus ``fusion``."""
    from fusion.registry import ENTRY_POINT_GROUP

    tops = {"fusion"}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        tops.add(ep.value.split(":")[0].split(".")[0])
    return tops


def foreign_plugins(plugins) -> list[str]:
    """The modules of ``plugins`` that are not part of an installed plugin package."""
    tops = installed_packages()
    return [str(m) for m in plugins or () if str(m).split(".")[0] not in tops]


def _digest(recipe_file: Path) -> str:
    return hashlib.sha256(Path(recipe_file).read_bytes()).hexdigest()


def remember(recipe_file: Path) -> None:
    """Record that this user wrote ``recipe_file`` (best effort: without a writable state dir, eval asks for the flag)."""
    with contextlib.suppress(OSError):
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / TRUST_FILE, "a") as f:
            f.write(_digest(recipe_file) + "\n")


def is_remembered(recipe_file: Path) -> bool:
    try:
        known = (state_dir() / TRUST_FILE).read_text().split()
    except OSError:
        return False
    return _digest(recipe_file) in known


def check_plugins(run_dir: Path, plugins, trust: bool = False, recipe_file: Path | None = None) -> None:
    """Raise unless the run's foreign ``plugins`` may be imported (see the module docstring); ``recipe_file``
    (default ``RUN/recipe.yaml``) is the recipe they come from, e.g. the byte-identical copy beside an export."""
    foreign = foreign_plugins(plugins)
    recipe_file = Path(recipe_file) if recipe_file else Path(run_dir) / "recipe.yaml"
    if not foreign or trust or is_remembered(recipe_file):
        return
    raise FusionError(
        f"{recipe_file} lists plugins {', '.join(foreign)} that would import code, and this run "
        "was not trained by you on this machine; read them, and pass --trust-plugins to load them"
    )
