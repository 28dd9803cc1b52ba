"""The ``repeat`` dataset wrapper: length, indexing, pass-through splits, distinct augmentation per repeat."""

import copy

import numpy as np
import pytest

from fusion.errors import RecipeError
from fusion.recipe import from_dict
from fusion.train.build import build_all


def wrapped(toy_recipe, times, splits=("train",)):
    recipe = copy.deepcopy(toy_recipe)
    inner = recipe["data"]["dataset"]
    recipe["data"]["dataset"] = {"name": "repeat", "args": {"dataset": inner, "times": times, "splits": list(splits)}}
    return build_all(from_dict(recipe)), build_all(from_dict(toy_recipe))


def test_repeat_multiplies_the_training_split_only(toy_recipe):
    repeated, plain = wrapped(toy_recipe, 3)
    n = len(plain.train_set)
    assert len(repeated.train_set) == 3 * n and len(repeated.test_set) == len(plain.test_set)
    assert repeated.num_classes == plain.num_classes
    a, b = repeated.train_set.base[1], repeated.train_set.base[1 + n]
    assert a["label"] == b["label"] and np.array_equal(a["skeleton"], b["skeleton"])


def test_repeats_draw_their_own_augmentation(toy_recipe):
    toy_recipe["data"]["transforms"] = {"train": [{"name": "skeleton.random_scale", "args": {"scale": 0.5}}], "test": []}
    repeated, plain = wrapped(toy_recipe, 2)
    n = len(plain.train_set)
    first, again = repeated.train_set[0], repeated.train_set[n]
    assert not np.array_equal(first["skeleton"], again["skeleton"])


def test_times_below_one_is_a_recipe_error(toy_recipe):
    with pytest.raises(RecipeError, match="times"):
        wrapped(toy_recipe, 0)


def test_repeat_keeps_labels_and_sample_ids_and_names_a_missing_block(toy_recipe):
    from fusion.construct import BuildContext
    from fusion.data.repeat import repeat_dataset
    from fusion.registry import get_registry

    repeated, plain = wrapped(toy_recipe, 2)
    view, n = repeated.train_set.base, len(plain.train_set)
    assert np.array_equal(view.labels, np.tile(plain.train_set.base.labels, 2))
    assert view.sample_id(n + 3) == plain.train_set.sample_id(3)
    with pytest.raises(RecipeError, match="repeat needs the wrapped dataset block"):
        repeat_dataset("train", BuildContext(get_registry(), "data.dataset.args"), dataset=None, times=2)
