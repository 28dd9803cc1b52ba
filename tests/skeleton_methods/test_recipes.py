"""Every method recipe loads, validates and builds its model and objective (SynthAct and paper recipes)."""

from pathlib import Path

import pytest

from fusion.recipe import load_recipe
from fusion.train.build import build_train_module, registry_for

ROOT = Path(__file__).resolve().parents[2]
SYNTHACT = sorted(p for p in (ROOT / "recipes/synthact/methods").glob("*.yaml") if not p.name.startswith("_"))
SMALL_PAPER = ["recipes/ntu60/psumnet_leg_xsub.yaml", "recipes/ntu_lt/brl_ntu60_xsub_lt_k.yaml",
               "recipes/ntu120/hypergcn_base_xsub.yaml"]


@pytest.mark.parametrize("path", SYNTHACT + [ROOT / p for p in SMALL_PAPER], ids=lambda p: Path(p).stem)
def test_recipe_builds(path):
    recipe = load_recipe(path, ["model.init=null"])
    module = build_train_module(recipe, registry_for(recipe), recipe["model"]["num_classes"] or 12)
    assert sum(p.numel() for p in module.parameters()) > 0
