"""Skeleton streams and multi-stream score ensembling."""

import numpy as np
import pytest
import torch

from fusion.errors import RecipeError
from fusion_plugins.skeleton.ensemble import KNOWN_WEIGHTS, ensemble_scores
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.skeleton.streams import bone, bone_motion, compute_streams, motion, skip_bone
from fusion_plugins.skeleton.transforms import Stream

LAYOUT = get_layout("ntu25")
PARENTS = LAYOUT.parents()


@pytest.fixture
def clip():
    return np.random.default_rng(0).normal(size=(2, 6, 25, 3)).astype(np.float32)  # M, T, V, C


def test_bone_is_joint_minus_parent_and_root_is_zero(clip):
    b = bone(clip, PARENTS)
    assert np.all(b[..., 20, :] == 0)
    elbow, shoulder = LAYOUT.index("left_elbow"), LAYOUT.index("left_shoulder")
    np.testing.assert_allclose(b[..., elbow, :], clip[..., elbow, :] - clip[..., shoulder, :])


def test_motion_is_forward_difference_with_zero_last_frame(clip):
    m = motion(clip)
    assert np.all(m[:, -1] == 0)
    np.testing.assert_allclose(m[:, :-1], clip[:, 1:] - clip[:, :-1])
    np.testing.assert_allclose(bone_motion(clip, PARENTS), motion(bone(clip, PARENTS)))


def test_skip_bone_reaches_the_grandparent(clip):
    s = skip_bone(clip, PARENTS)
    wrist, shoulder = LAYOUT.index("left_wrist"), LAYOUT.index("left_shoulder")
    np.testing.assert_allclose(s[..., wrist, :], clip[..., wrist, :] - clip[..., shoulder, :])
    assert np.all(s[..., 20, :] == 0)
    neck = LAYOUT.index("neck")  # a child of the root: skip-bone = bone
    np.testing.assert_allclose(s[..., neck, :], bone(clip, PARENTS)[..., neck, :])


def test_score_channel_is_averaged_not_differenced(clip):
    b = bone(clip, PARENTS, score=True)
    np.testing.assert_allclose(b[..., 5, 2], (clip[..., 5, 2] + clip[..., 4, 2]) / 2)
    m = motion(clip, score=True)
    np.testing.assert_allclose(m[:, 0, :, 2], (clip[:, 0, :, 2] + clip[:, 1, :, 2]) / 2)
    assert np.all(m[:, -1] == 0)


def test_numpy_and_torch_agree_and_streams_concatenate(clip):
    names = ["joint", "bone", "motion", "bone_motion", "skip_bone"]
    out = compute_streams(clip, names, PARENTS)
    assert out.shape == (2, 6, 25, 15)
    torch_out = compute_streams(torch.from_numpy(clip), names, PARENTS)
    np.testing.assert_allclose(torch_out.numpy(), out, rtol=1e-6)
    with pytest.raises(RecipeError, match="known: joint, bone"):
        compute_streams(clip, ["velocity"], PARENTS)


def test_stream_transform_uses_pyskl_bones_for_ntu25_b(clip):
    sample = {"skeleton": clip, "label": 0}
    out = Stream(["bone"], layout="ntu25_b")(sample, np.random.default_rng(0))["skeleton"]
    tip, thumb = 21, 22  # pyskl's bone stream hangs the tip on the thumb even on the B graph
    np.testing.assert_allclose(out[..., tip, :], clip[..., tip, :] - clip[..., thumb, :])
    graph = Stream(["bone"], layout="ntu25_b", bones="graph")(sample, np.random.default_rng(0))["skeleton"]
    np.testing.assert_allclose(graph[..., tip, :], clip[..., tip, :] - clip[..., 7, :])


def test_ensemble_is_the_weighted_sum():
    scores = {"joint": np.array([[1.0, 0.0]]), "bone": np.array([[0.0, 2.0]])}
    np.testing.assert_allclose(ensemble_scores(scores, {"joint": 0.6, "bone": 0.4}), [[0.6, 0.8]])
    np.testing.assert_allclose(ensemble_scores(scores), [[1.0, 2.0]])
    probs = ensemble_scores(scores, softmax=True)
    np.testing.assert_allclose(probs.sum(-1), [2.0])
    four = {name: np.eye(3) for name in ("joint", "bone", "motion", "bone_motion")}
    np.testing.assert_allclose(ensemble_scores(four, "ctrgcn_4s"), 2.0 * np.eye(3))
    assert sum(KNOWN_WEIGHTS["ctrgcn_4s"].values()) == pytest.approx(2.0)
    with pytest.raises(RecipeError, match="name streams"):
        ensemble_scores(scores, {"joint": 1.0, "bones": 1.0})
    with pytest.raises(RecipeError, match="unknown ensemble weights"):
        ensemble_scores(scores, "ctrgcn")
