"""SynthAct generation: determinism, shapes, splits, and the properties that make it a fair test of fusion."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.errors import DataError
from fusion_plugins.synthact.cameras import backproject
from fusion_plugins.synthact.dataset import SynthAct

TINY = dict(subjects=2, classes=6, frames=8, size=32, repetitions=1)  # 3 cameras x 2 x 1 x 6 = 36 samples
ALL = ["skeleton", "pose2d", "rgb", "depth", "pointcloud"]


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    return [tmp_path_factory.mktemp(f"cache{i}") for i in range(3)]


@pytest.fixture(scope="module")
def tiny(caches):
    return SynthAct("all", modalities=ALL, cache_dir=caches[0], **TINY)


def test_same_seed_gives_identical_arrays_from_a_cold_cache(tiny, caches):
    again = SynthAct("all", modalities=ALL, cache_dir=caches[1], **TINY)  # generated anew, not read back
    assert again.config.key() == tiny.config.key()
    for m in ALL:
        assert np.array_equal(np.asarray(tiny.arrays[m]), np.asarray(again.arrays[m])), m
    assert np.array_equal(tiny.scene.skeleton_gt, again.scene.skeleton_gt)


def test_different_seed_gives_different_subjects_and_noise(tiny, caches):
    other = SynthAct("all", modalities=ALL, cache_dir=caches[2], seed=1, **TINY)
    assert other.config.key() != tiny.config.key()
    for m in ALL:
        assert not np.array_equal(np.asarray(tiny.arrays[m]), np.asarray(other.arrays[m])), m
    bone = lambda s: np.linalg.norm(s.scene.skeleton_gt[:, 0, 0, 3] - s.scene.skeleton_gt[:, 0, 0, 0], axis=-1)  # noqa: E731
    assert not np.allclose(bone(tiny), bone(other))  # spine-base-to-head length: the subjects differ


def test_sample_layout_and_meta(tiny):
    sample = tiny[0]
    assert sample["skeleton"].shape == (1, 8, 25, 3) and sample["skeleton"].dtype == np.float32
    assert sample["pose2d"].shape == (1, 8, 25, 3)
    assert sample["rgb"].shape == (8, 32, 32, 3) and sample["rgb"].dtype == np.uint8
    assert sample["depth"].shape == (8, 32, 32) and sample["depth"].dtype == np.uint16
    assert sample["pointcloud"].shape == (8, 256, 3) and sample["pointcloud"].dtype == np.float32
    meta = sample["meta"]
    assert meta["id"] == "S001C001P001R001A001" == tiny.sample_id(0)
    assert (meta["subject"], meta["camera"], meta["repetition"], meta["layout"]) == (1, 1, 1, "ntu25")
    assert set(meta["intrinsics"]) >= {"fx", "fy", "cx", "cy"} and meta["intrinsics"]["width"] == 32
    z = sample["skeleton"][..., 2][sample["skeleton"][..., 2] != 0]
    assert 2.0 < z.min() and z.max() < 4.0  # about 3 m from the camera


@pytest.mark.parametrize(("protocol", "train", "test"), [("xsub", 18, 18), ("xview", 12, 12)])
def test_split_sizes(tiny, caches, protocol, train, test):
    sets = {s: SynthAct(s, protocol=protocol, modalities=["skeleton"], cache_dir=caches[0], **TINY) for s in ("train", "test")}
    assert (len(sets["train"]), len(sets["test"])) == (train, test)
    ids = [sets["train"].sample_id(i) for i in range(train)]
    if protocol == "xsub":
        assert all("P001" in i for i in ids)  # odd subjects train; the validation subject takes none of them
        assert sets["train"].validation_split == "val"
        with pytest.raises(DataError, match="val_subjects=0"):
            SynthAct("val", protocol=protocol, modalities=["skeleton"], cache_dir=caches[0], **TINY, val_subjects=0)
    else:
        assert all(i[1:8] == "001C002" for i in ids)  # camera 2 trains (camera 3 validates)


@pytest.mark.parametrize(("protocol", "field", "rule"), [("xsub", "subject", "subjects"), ("xview", "camera", "cameras")])
def test_validation_split_is_disjoint_from_train_and_test_by_the_protocol_rule(tmp_path, protocol, field, rule):
    """Issue 15: the validation split shares no subject (xsub) / camera (xview) with training or test."""
    args = dict(TINY, subjects=4)
    sets = {s: SynthAct(s, protocol=protocol, modalities=["skeleton"], cache_dir=tmp_path, **args)
            for s in ("train", "val", "test", "trainval")}
    groups = {s: {d[i]["meta"][field] for i in range(len(d))} for s, d in sets.items()}
    assert groups["val"] and not groups["val"] & groups["train"] and not groups["val"] & groups["test"]
    assert groups["trainval"] == groups["train"] | groups["val"]
    assert len(sets["train"]) + len(sets["val"]) == len(sets["trainval"])
    assert sets["train"].validation_split == "val"
    expected = {"xsub": {5}, "xview": {3}}[protocol]  # the validation subject after the protocol's 4; camera 3
    assert groups["val"] == expected


def test_validation_subjects_leave_every_other_sample_unchanged(tmp_path):
    """Issue 15: validation performers come from streams of their own, so the train and test
    samples are the same arrays with or without them (training keeps every odd subject)."""
    args = dict(TINY, subjects=4)
    without = SynthAct("all", modalities=["skeleton", "pose2d"], cache_dir=tmp_path, val_subjects=0, **args)
    with_val = SynthAct("all", modalities=["skeleton", "pose2d"], cache_dir=tmp_path, val_subjects=2, **args)
    protocol = np.flatnonzero(with_val.index.subject <= 4)
    assert len(with_val) - len(without) == 2 * 3 * TINY["classes"] * TINY["repetitions"]
    for m in ("skeleton", "pose2d"):
        np.testing.assert_array_equal(with_val.arrays[m][protocol], without.arrays[m])
    train = SynthAct("train", modalities=["skeleton"], cache_dir=tmp_path, val_subjects=2, **args)
    assert sorted({train[i]["meta"]["subject"] for i in range(len(train))}) == [1, 3]


def _pair(tiny, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of samples of class ``a`` and the matching samples (same camera, subject, repetition) of ``b``."""
    idx = tiny.index
    ia, ib = np.flatnonzero(idx.label == a), np.flatnonzero(idx.label == b)
    assert np.array_equal(idx.subject[ia], idx.subject[ib]) and np.array_equal(idx.camera[ia], idx.camera[ib])
    return ia, ib


@pytest.mark.parametrize(("a", "b"), [(0, 1), (4, 5)])  # drink water / eat apple; lift a box / lift a ball
def test_object_pairs_share_the_motion_and_differ_in_pixels(tiny, a, b):
    ia, ib = _pair(tiny, a, b)
    gt = tiny.scene.skeleton_gt
    assert np.array_equal(gt[ia], gt[ib])  # the clean skeleton cannot tell them apart
    rgb = np.asarray(tiny.arrays["rgb"]).astype(np.int16)
    depth = np.asarray(tiny.arrays["depth"])
    assert np.abs(rgb[ia] - rgb[ib]).mean() > 1.0
    assert ((depth[ia] > 0) != (depth[ib] > 0)).mean() > 0.001  # the object's shape changes the silhouette


def test_time_reversed_pair(tiny):
    ia, ib = _pair(tiny, 2, 3)  # sit down / stand up
    gt = tiny.scene.skeleton_gt
    assert np.array_equal(gt[ib], gt[ia][:, :, ::-1])
    pelvis_y = gt[ia][:, 0, :, 0, 1]
    assert (pelvis_y[:, 0] > pelvis_y[:, -1] + 0.2).all()  # sitting down lowers the pelvis


def test_point_cloud_comes_from_depth_with_the_intrinsics(tiny):
    sample = tiny[5]
    k = sample["meta"]["intrinsics"]
    xyz = sample["pointcloud"][3]
    z_mm = np.round(xyz[:, 2] * 1000).astype(int)
    u = np.floor(k["cx"] + k["fx"] * xyz[:, 0] / xyz[:, 2]).astype(int)
    v = np.floor(k["cy"] - k["fy"] * xyz[:, 1] / xyz[:, 2]).astype(int)
    assert np.array_equal(sample["depth"][3][v, u].astype(int), z_mm)
    back = backproject(u + 0.5, v + 0.5, z_mm / 1000.0, k)
    assert np.allclose(back, xyz, atol=1e-5)


def test_nuisances_are_present_and_can_be_switched_off(tiny, tmp_path):
    sensed, gt = tiny.scene.skeleton, tiny.scene.skeleton_gt
    tracked = tiny.scene.tracking > 0
    err = np.linalg.norm(sensed - gt, axis=-1)[tracked]
    assert 0.001 < np.median(err) < 0.02  # jitter of millimetres to a centimetre
    depth = np.asarray(tiny.arrays["depth"])
    clean = SynthAct("all", modalities=["skeleton", "depth"], nuisance=0.0, cache_dir=tmp_path, **TINY)
    assert np.array_equal(clean.scene.skeleton, clean.scene.skeleton_gt)
    holes = (np.asarray(clean.arrays["depth"]) > 0) & (depth == 0)
    assert holes.sum() > 0  # the noisy sensor misses pixels the clean one sees


def test_bad_arguments_name_the_option(tmp_path):
    with pytest.raises(DataError, match="size=33 must be even"):
        SynthAct(size=33, cache_dir=tmp_path)
    with pytest.raises(DataError, match="protocol='xset' is not allowed"):
        SynthAct(protocol="xset", cache_dir=tmp_path)
    with pytest.raises(DataError, match="modalities=.*'ir'"):
        SynthAct(modalities=["ir"], cache_dir=tmp_path)


def test_a_corrupt_cache_file_is_a_data_error_naming_it(tmp_path):
    SynthAct("all", modalities=["skeleton"], cache_dir=tmp_path, **TINY)
    (target,) = tmp_path.glob("*/skeleton.npy")
    target.write_bytes(target.read_bytes()[:200])
    with pytest.raises(DataError, match=r"skeleton\.npy is unreadable"):
        SynthAct("all", modalities=["skeleton"], cache_dir=tmp_path, **TINY)
