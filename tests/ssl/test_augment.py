"""The augmentation library: registered names, spec parameters, views on the person axis."""

import numpy as np
import pytest

from fusion.errors import RecipeError
from fusion.registry import get_registry
from fusion_plugins.ssl import augment


def skeleton(m=2, t=12, v=25, c=3, seed=0):
    return {"skeleton": np.random.default_rng(seed).normal(size=(m, t, v, c)).astype(np.float32), "label": 0}


def rng(seed=1):
    return np.random.default_rng(seed)


def test_every_augmentation_is_registered():
    names = set(get_registry().names("transform"))
    assert {s.name for s in augment.SPECS} <= names
    assert {"ssl.shear", "ssl.views", "ssl.gauss_blur_time", "ssl.joint_zero"} <= names


def test_shear_has_unit_diagonal():
    x = np.zeros((1, 1, 3, 3), dtype=np.float32)
    x[0, 0] = np.eye(3)  # joint j at the unit vector e_j: output columns are the matrix
    out = augment.Shear(r=0.5)({"skeleton": x}, rng())["skeleton"][0, 0]
    assert np.allclose(np.diag(out), 1.0)
    off = out[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off) <= 0.5) and np.any(off != 0)


def test_rotate_main_axis_preserves_lengths():
    sample = skeleton()
    out = augment.RotateMainAxis()(sample, rng())["skeleton"]
    assert np.allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(sample["skeleton"], axis=-1), atol=1e-5)


def test_temporal_reflect_crop_keeps_length_and_frames():
    x = np.arange(12, dtype=np.float32)[None, :, None, None] * np.ones((1, 12, 2, 3), dtype=np.float32)
    out = augment.TemporalReflectCrop(ratio=6)({"skeleton": x}, rng())["skeleton"]
    assert out.shape == x.shape
    frames = out[0, :, 0, 0]
    assert set(frames.tolist()) <= set(range(12))
    assert np.all(np.abs(np.diff(frames)) <= 1)  # a window of the mirrored sequence


def test_lr_flip_permutes_joints_only():
    sample = skeleton()
    out = augment.LRFlip(p=1.0)(sample, rng())["skeleton"]
    from fusion_plugins.skeleton.layouts import get_layout

    assert np.array_equal(out, sample["skeleton"][:, :, list(get_layout("ntu25").flip)])


def test_probability_zero_is_identity_and_one_changes():
    sample = skeleton()
    for cls in (augment.GaussNoise, augment.GaussBlurTime, augment.AxisMask, augment.TimeFlip):
        assert np.array_equal(cls(p=0.0)(sample, rng())["skeleton"], sample["skeleton"])
        assert not np.array_equal(cls(p=1.0)(sample, rng())["skeleton"], sample["skeleton"])


def test_gauss_blur_preserves_constants_inside():
    x = np.ones((1, 40, 2, 3), dtype=np.float32)
    out = augment.GaussBlurTime(p=1.0)({"skeleton": x}, rng())["skeleton"]
    assert np.allclose(out[:, 7:-7], 1.0, atol=1e-5)


def test_joint_zero_and_axis_mask_counts():
    sample = skeleton()
    out = augment.JointZero(n=15)(sample, rng())["skeleton"]
    assert (np.abs(out).sum(axis=(0, 1, 3)) == 0).sum() == 15
    out = augment.AxisMask(p=1.0)(sample, rng())["skeleton"]
    assert (np.abs(out).sum(axis=(0, 1, 2)) == 0).sum() == 1


def ctx():
    """Composite transforms build their inner blocks with the recipe's registry (here: the installed plugins)."""
    from fusion.construct import context
    from fusion.registry import get_registry

    return context(get_registry(), "data.transforms.train[0].args")


def test_views_stack_on_person_axis_and_growing_policy():
    sample = skeleton(m=2)
    views = augment.Views(views=[[{"name": "ssl.gauss_noise", "args": {"p": 1.0}}],
                                 [{"name": "ssl.axis_mask", "args": {"p": 1.0}}]], growing=True, ctx=ctx())
    out = views(sample, rng())["skeleton"]
    assert out.shape == (4, 12, 25, 3)
    assert (np.abs(out[2:]).sum(axis=(0, 1, 2)) == 0).sum() == 1  # view 1 = noise + axis mask
    assert (np.abs(out[:2]).sum(axis=(0, 1, 2)) == 0).sum() == 0
    with pytest.raises(RecipeError, match="transform block"):
        augment.Views(views=[["ssl.shear"]], ctx=ctx())


def test_one_of_picks_by_probability():
    one = augment.OneOf(choices=[[{"name": "ssl.joint_zero"}], [{"name": "ssl.shear", "args": {"r": 1.0}}]], p=[1.0, 0.0],
                        ctx=ctx())
    out = one(skeleton(), rng())["skeleton"]
    assert (np.abs(out).sum(axis=(0, 1, 3)) == 0).sum() == 15
    with pytest.raises(RecipeError, match="summing to 1"):
        augment.OneOf(choices=[[], []], p=[0.5, 0.2], ctx=ctx())
