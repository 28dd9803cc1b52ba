"""Pose extraction: the MediaPipe estimator on a real video, tracking, and layout conversion.

``tests/data/two_people_1080p.mp4`` is real camera footage from the MMAction2 repository
(``demo/demo_skeleton.mp4``, open-mmlab/mmaction2 commit 4c9ab0a8eb78eb7977da5be4d5655b363f395a5e,
Apache-2.0): 72 frames, 1920x1080, two people standing side by side, the left one (x ≈ 760 px)
turning towards the right one (x ≈ 1020 px).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.registry import get_registry
from fusion_plugins.pose.convert import convert
from fusion_plugins.pose.tracking import Tracker

VIDEO = Path(__file__).parents[1] / "data" / "two_people_1080p.mp4"


def test_conversion_by_joint_names():
    rng = np.random.default_rng(0)
    pose = rng.uniform(0, 100, (2, 3, 33, 3)).astype(np.float32)
    coco = convert(pose, "mediapipe33", "coco17")
    assert coco.shape == (2, 3, 17, 3)
    np.testing.assert_array_equal(coco[..., 5, :], pose[..., 11, :])  # left_shoulder
    ntu = convert(pose, "mediapipe33", "ntu25")
    assert ntu.shape == (2, 3, 25, 3)
    # spine_base (0) is the hip midpoint, scored by the weaker hip
    np.testing.assert_allclose(ntu[..., 0, :2], pose[..., [23, 24], :2].mean(-2), rtol=1e-6)
    np.testing.assert_array_equal(ntu[..., 0, 2], pose[..., [23, 24], 2].min(-1))
    op = convert(coco, "coco17", "openpose18")
    np.testing.assert_allclose(op[..., 1, :2], coco[..., [5, 6], :2].mean(-2), rtol=1e-6)  # neck


def test_tracker_keeps_identities_when_detection_order_swaps():
    left = np.zeros((5, 3), np.float32)
    left[:, 0], left[:, 1], left[:, 2] = 100, np.arange(5) * 40, 1
    right = left.copy()
    right[:, 0] = 400
    frames = [[left, right], [right + 5, left + 5], [left + 10], [right, left]]  # order swaps, one missing
    out = Tracker().track(frames, max_persons=2, joints=5)
    assert out.shape == (2, 4, 5, 3)
    assert np.allclose(out[0, :, 0, 0], [100, 105, 110, 100])  # slot 0 stays the left person
    assert np.allclose(out[1, [0, 1, 3], 0, 0], [400, 405, 400]) and out[1, 2].sum() == 0


def test_mediapipe_finds_both_people_with_stable_identities():
    pytest.importorskip("mediapipe", reason="pose extra: see README (pip install --no-deps mediapipe==0.10.21 ...)")
    import av

    with av.open(str(VIDEO)) as container:  # every 3rd of the 72 frames keeps the test short
        frames = np.stack([f.to_ndarray(format="rgb24") for k, f in enumerate(container.decode(video=0)) if k % 3 == 0])
    registry = get_registry()
    estimator = registry.get("pose_estimator", "mediapipe").factory(layout="coco17", max_persons=2, model_path=None)
    pose, meta = estimator(frames)
    assert pose.shape == (2, len(frames), 17, 3) and meta["layout"] == "coco17"
    seen = (pose[..., 2] > 0.3).sum(-1) >= 8  # (M, T): a person with at least 8 confident joints
    both = seen.all(0)
    assert both.mean() >= 0.7, f"both people found in only {both.mean():.0%} of the frames"
    centre = np.where(seen, np.nanmedian(np.where(pose[..., 2] > 0.3, pose[..., 0], np.nan), axis=-1), np.nan)
    first = int(np.flatnonzero(both)[0])
    left, right = sorted(range(2), key=lambda m: centre[m, first])
    assert abs(centre[left, first] - 760) < 80 and abs(centre[right, first] - 1020) < 80
    assert (centre[left, both] < centre[right, both]).all(), "identities swapped"
    for m in range(2):  # no jump from one person to the other between consecutive sightings
        track = centre[m][seen[m]]
        assert np.abs(np.diff(track)).max() < 120
