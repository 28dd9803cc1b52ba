"""Every shipped recipe loads, resolves its bases and names only registered components with accepted arguments.

Paper recipes point at datasets that are not on this machine, so they are validated, not run; SynthAct
recipes are run by the feature tests.
"""

from pathlib import Path

import pytest

from fusion.recipe import load_recipe, validate
from fusion.train.build import registry_for

ROOT = Path(__file__).resolve().parents[2] / "recipes"
RECIPES = sorted(
    p for p in ROOT.rglob("*.yaml")
    if not p.name.startswith("_") and p.parent.name not in ("_base", "bench") and "_" not in p.parent.name[:1]
)


def test_the_recipe_tree_is_found():
    folders = {p.parent.relative_to(ROOT).parts[0] for p in RECIPES}
    assert {"synthact", "ntu60", "ntu120", "pku_mmd", "ntu_lt", "gym", "panoptic"} <= folders
    assert len(RECIPES) > 100


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_validates_against_the_registry(path):
    recipe = load_recipe(path)
    validate(recipe, registry_for(recipe))
