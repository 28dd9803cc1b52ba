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
    assert {"synthact", "ntu60", "ntu120", "pku_mmd", "ntu_lt", "gym"} <= folders
    assert len(RECIPES) > 100


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_validates_against_the_registry(path):
    recipe = load_recipe(path)
    validate(recipe, registry_for(recipe))


#: Folder → a word every path the recipe's dataset reads must contain (the folder names the data it trains on).
FOLDER_DATA = {"ntu60": "ntu", "ntu120": "ntu", "ntu_lt": "ntu", "pku_mmd": "pku", "nw_ucla": "ucla", "gym": "gym"}


def _innermost_dataset(recipe: dict) -> dict:
    """The dataset block under any wrappers (repeat, labelled_subset, long_tailed)."""
    block = recipe["data"]["dataset"]
    while isinstance((block.get("args") or {}).get("dataset"), dict):
        block = block["args"]["dataset"]
    return block


def _paths(args: dict) -> list[str]:
    return [v for k, v in args.items() if isinstance(v, str) and (k.endswith(("path", "dir", "root", "pickle", "file")))]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_folder_and_dataset_agree(path):
    """A recipe under recipes/ntu60/ reads NTU, one under recipes/synthact/ reads SynthAct (issue 15: seven
    ntu60 recipes and the panoptic ones used to train on SynthAct under NTU / Panoptic names)."""
    recipe = load_recipe(path)
    folder = path.relative_to(ROOT).parts[0]
    block = _innermost_dataset(recipe)
    if folder == "synthact":
        assert block["name"] == "synthact", f"{path}: under recipes/synthact/ but reads {block['name']}"
        assert not (recipe.get("name") or "").startswith(("ntu", "panoptic", "pku")), recipe.get("name")
        return
    assert block["name"] != "synthact", f"{path}: under recipes/{folder}/ but trains on SynthAct"
    word = FOLDER_DATA[folder]
    paths = _paths(block.get("args") or {})
    assert paths and all(word in p.lower() for p in paths), f"{path}: {folder} recipe reads {paths}"
    if folder in ("ntu60", "ntu120") and recipe["model"]["num_classes"] is not None:
        assert recipe["model"]["num_classes"] == int(folder[3:]), f"{path}: num_classes {recipe['model']['num_classes']}"


def test_data_check_on_a_paper_recipe_without_its_data_names_the_key(tmp_path, monkeypatch, capsys):
    """`fusion data check` says which recipe key points at the missing folder, and how to set it."""
    from fusion.cli import main

    monkeypatch.chdir(tmp_path)  # no data/ntu here
    main(["data", "check", str(ROOT / "ntu60" / "ctrgcn_xsub.yaml")])
    out = capsys.readouterr()
    text = out.out + out.err
    assert "data.dataset.args.skeleton_dir: directory not found: data/ntu/nturgb+d_skeletons" in text
    assert "data.dataset.args.skeleton_dir=/path/to/nturgb+d_skeletons" in text
