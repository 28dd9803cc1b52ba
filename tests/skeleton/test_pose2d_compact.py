"""pose2d.compact: keypoints in the padded square box around every person (EPAM-Net / PoseC3D input)."""

import numpy as np
import pytest

from fusion.errors import DataError, RecipeError
from fusion.registry import get_registry
from fusion_plugins.skeleton.compact import Compact, compact_box


def keypoints():
    x = np.zeros((2, 3, 17, 3), dtype=np.float32)
    x[0, :, :, 0], x[0, :, :, 1], x[0, :, :, 2] = 100.0, 200.0, 0.9  # person 0 at (100, 200)
    x[0, 1, 0, :2] = (300.0, 260.0)  # one joint far right: box x 100..300, y 200..260
    x[1] = 0  # second person absent
    return x


def test_box_is_square_padded_and_ignores_missing_joints():
    left, top, side = compact_box(keypoints(), padding=0.25)
    # x span 200 -> half 100 * 1.25 = 125 (longer side); centre (200, 230)
    assert (left, top, side) == pytest.approx((75.0, 105.0, 250.0))
    assert compact_box(np.zeros((1, 2, 17, 3))) is None
    flat = keypoints()
    flat[0, 1, 0, :2] = (105.0, 201.0)  # spans 5 px: too small to crop
    assert compact_box(flat) is None


def test_keypoints_move_into_the_box_and_scale_to_size():
    out = Compact(padding=0.25, size=56)({"pose2d": keypoints()}, None)["pose2d"]
    np.testing.assert_allclose(out[0, 0, 1, :2], [(100 - 75) * 56 / 250, (200 - 105) * 56 / 250], rtol=1e-6)
    np.testing.assert_allclose(out[0, 1, 0, :2], [(300 - 75) * 56 / 250, (260 - 105) * 56 / 250], rtol=1e-6)
    assert not out[1].any() and np.all(out[0, ..., 2] == np.float32(0.9))  # absent person stays zero, scores kept
    assert out[..., :2].max() <= 56 and out[0, ..., :2].min() >= 0


def test_rgb_is_cropped_with_the_same_box():
    frames = np.zeros((2, 400, 500, 3), dtype=np.uint8)
    frames[:, 105:355, 75:325] = 200  # exactly the box (75, 105, 250)
    out = Compact(padding=0.25, size=50, rgb_key="rgb")({"pose2d": keypoints(), "rgb": frames}, None)
    assert out["rgb"].shape == (2, 50, 50, 3) and out["rgb"].dtype == np.uint8
    assert out["rgb"][:, 2:-2, 2:-2].min() == 200  # the box fills the crop


def test_registered_and_errors():
    assert get_registry().get("transform", "pose2d.compact").factory is Compact
    with pytest.raises(RecipeError, match="rgb_key needs size"):
        Compact(rgb_key="rgb")
    with pytest.raises(DataError, match=r"sample\['pose2d'\] of shape"):
        Compact()({"pose2d": np.zeros((3, 17, 3))}, None)
