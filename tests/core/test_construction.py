"""``fusion.build``: nested components see the recipe's plugins; argument types are checked at load, at any depth."""

import copy

import pytest

import fusion
from fusion.errors import RecipeError
from fusion.recipe import from_dict, validate
from fusion.registry import get_registry
from fusion.train.build import build_all, registry_for


def test_a_nested_component_from_the_recipes_plugins_builds(toy_recipe):
    """The toy dataset and encoder exist only in the recipe's ``plugins:``; the wrapper and the mixer that
    build them get the recipe's registry through ``ctx`` (a global registry would not know them)."""
    recipe = copy.deepcopy(toy_recipe)
    recipe["data"]["val_split"] = "none"
    recipe["data"]["dataset"] = {"name": "repeat", "args": {"dataset": toy_recipe["data"]["dataset"], "times": 2}}
    built = build_all(from_dict(recipe, registry_for(recipe)))
    assert len(built.train_set) == 2 * toy_recipe["data"]["dataset"]["args"]["size"]
    assert "toy" not in get_registry().names("dataset")

    ctx = fusion.context(registry_for(recipe), "model.mixer")
    block = {"name": "unipose_recognise", "args": {"recogniser": {"name": "toy_mlp", "args": {"dim": 8}}}}
    mixer = fusion.create_mixer(block, ctx, dims={"pose": 4}, num_classes=3, roles={})
    assert mixer.out_dim == 8 and type(mixer.recogniser).__name__ == "MLPEncoder"


@pytest.mark.parametrize("where, value, message", [
    (("model", "encoders", "skeleton", "args", "dim"), "three",
     "model.encoders.skeleton.args.dim: expected int, got str 'three'"),
    (("data", "dataset", "args", "dataset", "args", "size"), 1.5,
     "data.dataset.args.dataset.args.size: expected int, got float 1.5"),
    (("data", "dataset", "args", "times"), True, "data.dataset.args.times: expected int, got bool True"),
    (("data", "dataset", "args", "splits"), ["train", 3], r"data.dataset.args.splits\[1\]: expected str, got int 3"),
])
def test_a_wrong_typed_argument_is_one_sentence_with_its_key_path(toy_recipe, where, value, message):
    recipe = copy.deepcopy(toy_recipe)
    recipe["data"]["dataset"] = {"name": "repeat", "args": {"dataset": toy_recipe["data"]["dataset"]}}
    node = recipe
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    with pytest.raises(RecipeError, match=f"^{message}$"):
        from_dict(recipe, registry_for(recipe))


def test_nested_transform_lists_are_checked_at_load(toy_recipe):
    recipe = copy.deepcopy(toy_recipe)
    views = [[{"name": "ssl.gauss_noise", "args": {"p": 1.0}}], [{"name": "ssl.gauss_noise", "args": {"p": "high"}}]]
    recipe["data"]["transforms"] = {"train": [{"name": "ssl.views", "args": {"views": views}}], "test": []}
    with pytest.raises(RecipeError, match=r"^data.transforms.train\[0\].args.views\[1\]\[0\].args.p: expected float, "
                                          "got str 'high'$"):
        from_dict(recipe, registry_for(recipe))
    views[1][0]["name"] = "ssl.gauss_nois"
    with pytest.raises(RecipeError, match=r"data.transforms.train\[0\].args.views\[1\]\[0\].name: unknown transform"):
        from_dict(recipe, registry_for(recipe))


def test_a_paper_encoder_argument_of_the_wrong_type_fails_at_load_not_in_torch():
    recipe = {"data": {"dataset": {"name": "synthact"}}, "model": {"encoders": {"skeleton": {
        "name": "ctrgcn", "args": {"in_channels": "three", "layout": "ntu25"}}}}}
    with pytest.raises(RecipeError, match="^model.encoders.skeleton.args.in_channels: expected int, got str 'three'$"):
        from_dict(recipe, get_registry())


def test_literal_optional_and_framework_arguments():
    registry = get_registry()
    recipe = {"data": {"dataset": {"name": "synthact"}}, "model": {
        "encoders": {"skeleton": {"name": "stgcn"}}, "mixer": {"name": "epamnet", "args": {"pose_encoder": 3}}}}
    with pytest.raises(RecipeError, match="^model.mixer.args.pose_encoder: expected a registered encoder name, got int 3$"):
        validate(from_dict(recipe), registry)
    recipe["model"]["mixer"]["args"] = {"ctx": {}}
    with pytest.raises(RecipeError, match="model.mixer.args.ctx: is set by the framework"):
        validate(from_dict(recipe), registry)
    recipe["model"]["mixer"]["args"] = {"pose_encoder": "xshiftnet_pose", "pose_args": {"base_channels": "wide"}}
    with pytest.raises(RecipeError, match="^model.mixer.args.pose_args.base_channels: expected int, got str 'wide'$"):
        validate(from_dict(recipe), registry)


def test_argument_types_are_described_in_words():
    from typing import Literal

    from fusion.argtypes import check_type, describe

    assert describe(int | None) == "int or null"
    assert describe(list[float]) == "a list of float"
    assert describe(Literal["a", "b"]) == "one of 'a', 'b'"
    check_type("k", 3, float)  # YAML writes 3 for 3.0
    check_type("k", None, int | None)
    with pytest.raises(RecipeError, match="^k: expected one of 'a', 'b', got str 'c'$"):
        check_type("k", "c", Literal["a", "b"])
    with pytest.raises(RecipeError, match=r"^k\[1\]: expected float, got str 'x'$"):
        check_type("k", [1.0, "x"], tuple[float, ...])
