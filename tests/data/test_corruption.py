"""Temporal corruption: mask counts and shapes per type, in-place zeroing, and the ``eval.corruption`` path."""

import numpy as np
import pytest

from fusion.data.corruption import MASK_TYPES, corruption_transform, frame_mask, missing_count, time_axes
from fusion.errors import RecipeError

#: The raw layouts' time axes the built-in modality plugins declare.
AXES = {"skeleton": 1, "pose2d": 1, "rgb": 0, "depth": 0, "pointcloud": 0}


@pytest.mark.parametrize("kind", MASK_TYPES)
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_mask_has_floor_ratio_frames(kind, ratio):
    for frames in (16, 30, 64):
        mask = frame_mask(kind, frames, ratio, np.random.default_rng(1))
        assert mask.sum() == int(np.floor(ratio * frames)) == missing_count(frames, ratio)


@pytest.mark.parametrize("kind", ["prefix", "suffix", "between"])
def test_block_masks_are_contiguous(kind):
    mask = frame_mask(kind, 40, 0.3)
    where = np.flatnonzero(mask)
    assert np.all(np.diff(where) == 1)
    if kind == "prefix":
        assert where[0] == 0
    elif kind == "suffix":
        assert where[-1] == 39
    else:
        assert 0 < where[0] and where[-1] < 39 and abs(where[0] - (39 - where[-1])) <= 1


def test_pattern_mask_is_periodic():
    mask = frame_mask("pattern", 32, 0.5)
    assert np.array_equal(mask, np.tile([False, True], 16))
    quarter = frame_mask("pattern", 32, 0.25)
    assert np.array_equal(quarter.reshape(8, 4), np.tile(quarter[:4], (8, 1)))


def test_time_axes_come_from_the_modality_specs():
    from fusion.registry import get_registry

    assert time_axes(get_registry()) == AXES


def test_transform_zeroes_missing_and_keeps_valid_frames():
    from fusion_plugins.synthact.dataset import SynthAct

    sample = SynthAct("test", modalities=["skeleton", "pose2d"], frames=16)[0]
    out = corruption_transform({"type": "suffix", "level": "severe"}, AXES)(sample, np.random.default_rng(0))
    for key in ("skeleton", "pose2d"):
        zero = ~np.any(out[key] != 0, axis=(0, 2, 3))
        assert zero.sum() == 12 and np.all(zero[4:])
        assert np.array_equal(out[key][:, :4], sample[key][:, :4])
    assert np.any(sample["skeleton"][:, 4:] != 0)  # the input sample is not modified


def test_bad_specs_name_the_key():
    with pytest.raises(RecipeError, match="type"):
        corruption_transform({"type": "sideways", "ratio": 0.5}, AXES)
    with pytest.raises(RecipeError, match="ratio"):
        corruption_transform({"type": "random", "ratio": 1.5}, AXES)
    with pytest.raises(RecipeError, match="level"):
        corruption_transform({"type": "random"}, AXES)
    with pytest.raises(RecipeError, match="unknown key"):
        corruption_transform({"type": "random", "ratio": 0.5, "frames": 3}, AXES)


def test_eval_corruption_in_a_recipe(toy_recipe):
    from fusion.recipe import from_dict
    from fusion.train.build import build_dataset, registry_for

    toy_recipe["eval"]["corruption"] = {"type": "prefix", "ratio": 0.5}
    recipe = from_dict(toy_recipe)
    registry = registry_for(recipe)
    test = build_dataset(recipe, registry, "test")
    train = build_dataset(recipe, registry, "train")
    x = test[0]["skeleton"]  # (M, T, V, C), toy T = 8
    assert not np.any(x[:, :4]) and np.all(np.any(x[:, 4:] != 0, axis=(0, 2, 3)))
    assert np.all(np.any(train[0]["skeleton"] != 0, axis=(0, 2, 3)))  # training data stays whole
