import pytest

from fusion.errors import RecipeError
from fusion.recipe import apply_overrides, deep_merge, from_dict, load_recipe, parse_override, validate
from fusion.registry import get_registry


@pytest.fixture
def registry():
    return get_registry(["toy_plugin"])


def write(path, text):
    path.write_text(text)
    return path


def test_base_inheritance_deep_merges(tmp_path):
    write(tmp_path / "base.yaml", "train: {epochs: 5, optimizer: {name: sgd, lr: 0.5}}\ndata: {dataset: {name: toy}}\n"
          "model: {encoders: {skeleton: {name: toy_mlp}}}\n")
    child = write(tmp_path / "child.yaml", "base: base.yaml\ntrain: {optimizer: {lr: 0.01}}\n")
    recipe = load_recipe(child)
    assert recipe["train"]["epochs"] == 5
    assert recipe["train"]["optimizer"] == {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
                                            "nesterov": False, "decay_all": False}


def test_overrides_are_yaml_typed(tmp_path):
    assert parse_override("train.optimizer.lr=0.01") == (["train", "optimizer", "lr"], 0.01)
    assert parse_override("eval.drop=[depth, rgb]")[1] == ["depth", "rgb"]
    assert parse_override("train.clip_grad=null")[1] is None
    assert apply_overrides({"a": {"b": 1}}, ["a.c=true"]) == {"a": {"b": 1, "c": True}}
    with pytest.raises(RecipeError, match="must look like key.sub=value"):
        parse_override("train.epochs")


def test_inheritance_loop_is_reported(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml\n")
    write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(RecipeError, match="inheritance loops"):
        load_recipe(tmp_path / "a.yaml")


def test_bad_yaml_names_file(tmp_path):
    path = write(tmp_path / "bad.yaml", "train: {epochs: [1,\n")
    with pytest.raises(RecipeError, match="bad.yaml: not valid YAML"):
        load_recipe(path)


def test_unknown_encoder_suggests(toy_recipe, registry):
    toy_recipe["model"]["encoders"]["skeleton"]["name"] = "toy_mpl"
    with pytest.raises(RecipeError, match=r"model.encoders.skeleton.name: unknown encoder 'toy_mpl'; did you mean 'toy_mlp'"):
        from_dict(toy_recipe, registry)


def test_wrong_type_names_key_and_value(toy_recipe, registry):
    toy_recipe["train"]["epochs"] = "ten"
    with pytest.raises(RecipeError, match=r"train.epochs: expected int, got str 'ten'"):
        from_dict(toy_recipe, registry)


def test_bool_is_not_an_int(toy_recipe, registry):
    toy_recipe["train"]["batch_size"] = True
    with pytest.raises(RecipeError, match="train.batch_size: expected int, got bool"):
        from_dict(toy_recipe, registry)


def test_unknown_key_suggests(toy_recipe, registry):
    toy_recipe["train"]["epoch"] = 3
    with pytest.raises(RecipeError, match=r"unknown recipe key 'train.epoch' \(did you mean 'epochs'\?\)"):
        from_dict(toy_recipe, registry)


def test_unknown_top_level_section(toy_recipe, registry):
    toy_recipe["trian"] = {}
    with pytest.raises(RecipeError, match=r"unknown recipe key 'trian' \(did you mean 'train'\?\)"):
        from_dict(toy_recipe, registry)


def test_enum_value_lists_allowed(toy_recipe, registry):
    toy_recipe["train"]["precision"] = "bf61"
    with pytest.raises(RecipeError, match=r"train.precision: 'bf61' is not allowed \(did you mean 'bf16'\?\); allowed values: no, bf16, fp16"):
        from_dict(toy_recipe, registry)


def test_unknown_component_arg_is_named(toy_recipe, registry):
    toy_recipe["model"]["encoders"]["skeleton"]["args"]["width"] = 3
    with pytest.raises(RecipeError, match=r"model.encoders.skeleton.args.width.*allowed here: dim, in_channels, joints"):
        from_dict(toy_recipe, registry)


def test_yaml_is_data_only(tmp_path):
    path = write(tmp_path / "evil.yaml", "train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)


def test_deep_merge_does_not_mutate():
    base = {"a": {"b": 1}}
    merged = deep_merge(base, {"a": {"c": 2}})
    assert base == {"a": {"b": 1}} and merged == {"a": {"b": 1, "c": 2}}


def test_a_renamed_component_does_not_inherit_the_base_args(tmp_path):
    """Wrapping the base's dataset in another one must not leak the old dataset's args into the wrapper."""
    base = {"dataset": {"name": "ntu", "args": {"benchmark": "ntu60", "protocol": "xsub"}}, "modalities": ["x"]}
    wrapped = deep_merge(base, {"dataset": {"name": "labelled_subset", "args": {"fraction": 0.01}}})
    assert wrapped["dataset"] == {"name": "labelled_subset", "args": {"fraction": 0.01}}
    same = deep_merge(base, {"dataset": {"name": "ntu", "args": {"protocol": "xview"}}})
    assert same["dataset"]["args"] == {"benchmark": "ntu60", "protocol": "xview"}  # same name: args merge
    assert deep_merge(base, {"dataset": {"args": {"protocol": "xview"}}})["dataset"]["name"] == "ntu"


def test_a_key_written_twice_is_an_error_naming_it_and_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("data:\n  dataset: {name: synthact}\neval:\n  batch_size: 64\neval:\n  clips: 10\n")
    with pytest.raises(RecipeError, match=r"(?s)twice.yaml: not valid YAML.*'eval' appears twice \(first on line 3\).*line 5"):
        load_recipe(path)


def test_a_wrapped_dataset_s_arguments_are_checked_too(toy_recipe):
    from fusion.recipe import from_dict
    from fusion.train.build import registry_for

    inner = {"name": "toy", "args": {"size": 48, "benchmark": "ntu120"}}
    toy_recipe["data"]["dataset"] = {"name": "repeat", "args": {"times": 2, "dataset": inner}}
    recipe = from_dict(toy_recipe)
    with pytest.raises(RecipeError, match=r"data\.dataset\.args\.dataset\.args\.benchmark"):
        validate(recipe, registry_for(recipe))
