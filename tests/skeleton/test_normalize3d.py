"""PYSKL-style 3D pre-normalisation and random scaling (BRL's NTU pipeline)."""

import numpy as np
import pytest

from fusion.errors import DataError
from fusion_plugins.skeleton.normalize3d import PreNormalize3D, RandomScale, align_rotation


@pytest.mark.parametrize("vector", [[1.0, 2.0, 3.0], [0.0, 0.0, -2.0], [0.0, 0.0, 5.0], [-1.0, 0.5, 0.0]])
def test_align_rotation_is_a_rotation_onto_the_target(vector):
    rot = align_rotation(np.array(vector), np.array([0.0, 0.0, 1.0]))
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rot), 1.0)
    moved = rot @ np.array(vector)
    assert np.allclose(moved, [0, 0, np.linalg.norm(vector)], atol=1e-9)


def random_body(rng, frames=6, persons=2):
    x = rng.normal(size=(persons, frames, 25, 3)).astype(np.float32) + np.array([0.3, -0.2, 3.0], np.float32)
    return x


def test_pre_normalize_undoes_a_rigid_motion_of_a_canonical_body():
    """Spine along +z and shoulders along +x in the canonical body: moved rigidly, then normalised back."""
    rng = np.random.default_rng(0)
    canonical = rng.normal(size=(2, 6, 25, 3)).astype(np.float32)
    canonical[:, :, 0], canonical[:, :, 1] = (0, 0, -0.5), (0, 0, 0)  # spine bottom -> top along +z
    canonical[:, :, 4], canonical[:, :, 8] = (-0.2, 0.1, 0.1), (0.2, 0.1, 0.1)  # shoulders along +x
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.linalg.det(q))
    moved = (canonical @ rot.T + np.array([0.3, -0.2, 3.0])).astype(np.float32)
    moved = moved[[1, 0]]
    moved[0, 4:] = 0  # the first-listed person leaves after 4 frames: the other one becomes the main one
    out = PreNormalize3D()({"skeleton": moved}, rng)["skeleton"]
    assert out.shape == (2, 6, 25, 3)
    assert np.allclose(out[0], canonical[0], atol=1e-4)
    assert np.allclose(out[1, :4], canonical[1, :4], atol=1e-4) and np.all(out[1, 4:] == 0)


def test_pre_normalize_drops_frames_without_the_main_person():
    rng = np.random.default_rng(1)
    x = random_body(rng, persons=1)
    x[0, [1, 3]] = 0
    out = PreNormalize3D()({"skeleton": x}, rng)["skeleton"]
    assert out.shape == (1, 4, 25, 3)


def test_pre_normalize_needs_3d_joints():
    with pytest.raises(DataError, match="3D joints"):
        PreNormalize3D()({"skeleton": np.ones((1, 4, 25, 2), np.float32)}, np.random.default_rng(0))


def test_random_scale_multiplies_each_axis_within_the_range():
    rng = np.random.default_rng(2)
    x = np.ones((2, 5, 25, 3), np.float32)
    factors = RandomScale(0.1)({"skeleton": x}, rng)["skeleton"][0, 0, 0]
    assert np.all(np.abs(factors - 1) <= 0.1) and len(set(np.round(factors, 6))) == 3
    out = RandomScale(0.1)({"skeleton": x}, rng)["skeleton"]
    assert np.allclose(out, out[0, 0, 0])  # one draw per axis for the whole clip


def test_channels_keeps_the_listed_ones_and_names_a_bad_index():
    from fusion_plugins.skeleton.transforms import Channels

    x = np.arange(2 * 3 * 17 * 3, dtype=np.float32).reshape(2, 3, 17, 3)
    out = Channels([0, 1], key="pose2d")({"pose2d": x}, np.random.default_rng(0))["pose2d"]
    assert out.shape == (2, 3, 17, 2) and np.array_equal(out, x[..., :2])
    with pytest.raises(DataError, match=r"keep=\[0, 3\].*3 channels"):
        Channels([0, 3], key="pose2d")({"pose2d": x}, np.random.default_rng(0))
