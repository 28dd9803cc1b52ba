"""Frame sampling offsets and the paired RGB + keypoint flip (EPAM-Net's stream alignment)."""

import numpy as np
import pytest

from fusion.errors import RecipeError
from fusion_plugins.rgb.transforms import UniformSample
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.skeleton.paired_flip import PairedFlip


def test_offset_zero_takes_every_third_of_48_frames_from_the_first():
    sample = {"rgb": np.arange(48)[:, None, None, None] * np.ones((1, 2, 2, 3))}
    taken = UniformSample(16, train=False, offset=0.0)(sample, np.random.default_rng(0))["rgb"][:, 0, 0, 0]
    assert taken.tolist() == list(range(0, 48, 3))
    centre = UniformSample(16, train=False)(sample, np.random.default_rng(0))["rgb"][:, 0, 0, 0]
    assert centre.tolist() == list(range(1, 48, 3))


def test_offset_outside_a_segment_is_a_recipe_error():
    with pytest.raises(RecipeError, match="offset=1.0"):
        UniformSample(16, offset=1.0)


def test_paired_flip_mirrors_frames_and_keypoints_together():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 8, 10, 3), dtype=np.uint8)
    keypoints = np.zeros((1, 4, 17, 3), np.float32)
    keypoints[..., 0], keypoints[..., 1], keypoints[..., 2] = 3.0, 5.0, 0.9
    keypoints[0, :, 5, 0] = 1.0  # left shoulder near the left edge
    flip = PairedFlip(layout="coco17", width=10, p=1.0)
    out = flip({"rgb": frames, "pose2d": keypoints}, rng)
    assert np.array_equal(out["rgb"], frames[:, :, ::-1])
    right_shoulder = get_layout("coco17").flip[5]
    assert right_shoulder == 6
    assert np.allclose(out["pose2d"][0, :, 6, 0], 9.0)  # x -> width - x, moved to the right shoulder slot
    assert np.allclose(out["pose2d"][..., 2], 0.9)  # scores untouched


def test_paired_flip_uses_one_coin_for_both_streams():
    frames = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    keypoints = np.ones((1, 2, 17, 3), np.float32)
    flip = PairedFlip(layout="coco17", width=4, p=0.5)
    rng = np.random.default_rng(1)
    for _ in range(20):
        out = flip({"rgb": frames, "pose2d": keypoints}, rng)
        frames_flipped = not np.array_equal(out["rgb"], frames)
        keypoints_flipped = not np.allclose(out["pose2d"][..., 0], 1.0)
        assert frames_flipped == keypoints_flipped
