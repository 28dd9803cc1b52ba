"""NTU splits, the missing lists, and the joined skeleton + RGB + depth + point-cloud dataset."""

import numpy as np
import pytest
from format_writers import (
    blob_depth,
    one_body_frames,
    pyskl_annotations,
    ramp_video,
    write_depth_folder,
    write_pickle,
    write_skeleton,
    write_video,
)

from fusion.construct import BuildContext, build_spec
from fusion.errors import DataError, RecipeError
from fusion.registry import get_registry
from fusion_plugins.formats.common import scan
from fusion_plugins.formats.ntu_dataset import NtuRgbd
from fusion_plugins.formats.ntu_missing import NTU60_MISSING_SKELETONS, NTU120_MISSING_SKELETONS
from fusion_plugins.formats.splits import (
    NTU60_XSUB_TRAIN_SUBJECTS,
    NTU120_XSUB_TRAIN_SUBJECTS,
    in_benchmark,
    is_train,
    parse_ntu_name,
    split_key,
)
from fusion_plugins.formats.video import has_decord, has_torchcodec

MISSING = "S001C002P005R002A008"  # first name of the official lists


def test_official_split_rules():
    assert len(NTU60_XSUB_TRAIN_SUBJECTS) == 20 and len(NTU120_XSUB_TRAIN_SUBJECTS) == 53
    name = parse_ntu_name
    assert is_train(name("S001C001P001R001A001"), "xsub") and not is_train(name("S001C001P003R001A001"), "xsub")
    assert is_train(name("S020C001P045R001A070"), "xsub") and not is_train(name("S020C001P044R001A070"), "xsub")
    assert is_train(name("S001C002P003R001A001"), "xview") and is_train(name("S001C003P003R001A001"), "xview")
    assert not is_train(name("S001C001P001R001A001"), "xview")
    assert is_train(name("S032C001P001R001A001"), "xset") and not is_train(name("S031C001P001R001A001"), "xset")
    assert in_benchmark(name("S017C001P001R001A060"), "ntu60")
    assert not in_benchmark(name("S018C001P001R001A001"), "ntu60") and in_benchmark(name("S018C001P001R001A120"), "ntu120")
    assert name("dir/S001C002P003R002A013_rgb.avi").label == 12
    assert split_key("test", "xsub", ["xsub_train", "xsub_val"], "f") == "xsub_val"
    with pytest.raises(RecipeError, match="split 'bogus' is not understood"):
        split_key("bogus", "xsub", ["xsub_train"], "f")


def test_missing_lists_match_official_counts():
    assert len(NTU60_MISSING_SKELETONS) == 302 and len(NTU120_MISSING_SKELETONS) == 535
    assert MISSING in NTU60_MISSING_SKELETONS and "S032C003P067R002A077" in NTU120_MISSING_SKELETONS


NAMES = ["S001C001P001R001A001", "S001C002P003R001A002", "S002C003P002R002A010", MISSING]


@pytest.fixture
def ntu_root(tmp_path):
    """Skeletons for every name, RGB for the first three (one with audio), masked depth for three."""
    for k, name in enumerate(NAMES):
        write_skeleton(tmp_path / "skeletons" / f"{name}.skeleton", one_body_frames(10, seed=k))
    write_video(tmp_path / "rgb" / f"{NAMES[0]}_rgb.avi", ramp_video(10))
    write_video(tmp_path / "rgb" / f"{NAMES[1]}.mp4", ramp_video(10), audio=True)
    write_video(tmp_path / "rgb" / f"{NAMES[2]}_rgb.avi", ramp_video(10))
    for name in (NAMES[0], NAMES[1], MISSING):
        write_depth_folder(tmp_path / "depth" / name, blob_depth(10))
    return tmp_path


def dirs(root, **kwargs):
    return {"skeleton_dir": str(root / "skeletons"), "rgb_dir": str(root / "rgb"), "depth_dir": str(root / "depth"),
            **kwargs}


def test_xsub_xview_membership_and_missing_list(ntu_root):
    ids = lambda ds: [i.id for i in ds.infos]  # noqa: E731
    assert ids(NtuRgbd("train", "xsub", **dirs(ntu_root))) == [NAMES[0], NAMES[2]]
    assert ids(NtuRgbd("test", "xsub", **dirs(ntu_root))) == [NAMES[1]]  # P003; the missing one is left out
    assert ids(NtuRgbd("xview_val", **dirs(ntu_root))) == [NAMES[0]]
    assert MISSING in ids(NtuRgbd("all", missing="none", **dirs(ntu_root)))
    assert MISSING in ids(NtuRgbd("all", modalities=["rgb", "depth"], **dirs(ntu_root)))  # list only for skeletons
    listed = ntu_root / "my_missing.txt"
    listed.write_text(f"{NAMES[0]}.skeleton\n# comment\n")
    assert NAMES[0] not in ids(NtuRgbd("all", missing=str(listed), **dirs(ntu_root)))


#: Backends installed here: decord is optional (the ``decord`` extra), torchcodec needs the system's FFmpeg.
BACKENDS = ["pyav"] + (["torchcodec"] if has_torchcodec() else []) + (["decord"] if has_decord() else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_joined_sample_is_aligned_across_modalities(ntu_root, backend):
    dataset = NtuRgbd("all", modalities=["skeleton", "pose2d", "rgb", "depth", "pointcloud"], num_frames=5,
                      backend=backend, points=64, missing="none", **dirs(ntu_root))
    assert dataset.num_classes == 60 and len(dataset) == 4
    sample = dataset[1]  # S001C002P003R001A002: every modality, video with an audio track
    assert sample["label"] == 1 and sample["meta"]["camera"] == 2 and sample["meta"]["layout"] == "ntu25"
    assert sample["skeleton"].shape == (2, 5, 25, 3) and sample["skeleton"].dtype == np.float32
    assert sample["pose2d"].shape == (2, 5, 25, 3) and sample["pose2d"][0, :, :, 2].min() == 1.0
    assert sample["rgb"].shape == (5, 48, 64, 3) and sample["rgb"].dtype == np.uint8
    frames = sample["meta"]["frames"]
    assert frames.tolist() == [1, 3, 5, 7, 9]  # test-mode centres of 5 segments of 10 frames
    np.testing.assert_allclose(sample["rgb"][:, 0, 0, 0], frames * 20, atol=6)  # the right frames were decoded
    assert sample["depth"].shape == (5, 424, 512) and sample["depth"].dtype == np.uint16
    assert sample["pointcloud"].shape == (5, 64, 3)
    np.testing.assert_allclose(sample["pointcloud"][..., 2], 2.5)
    position = {info.id: k for k, info in enumerate(dataset.infos)}
    assert "rgb" not in dataset[position[MISSING]]  # absent files: that modality is left out of the sample
    assert "depth" not in dataset[position[NAMES[2]]] and "pointcloud" not in dataset[position[NAMES[2]]]


def test_hrnet_pose2d_from_a_pyskl_pickle_joins_the_rgb_frames(ntu_root):
    """EPAM-Net's input: RGB from the release folder, COCO-17 x, y, score from ntu60_hrnet.pkl."""
    annotations = pyskl_annotations(NAMES[:2], two_d=True, frames=10, persons=1)
    pickle = write_pickle(ntu_root / "hrnet.pkl", {"split": {}, "annotations": annotations})
    dataset = NtuRgbd("all", modalities=["rgb", "pose2d"], num_frames=5, backend="pyav", missing="none",
                      rgb_dir=str(ntu_root / "rgb"), pose2d_pickle=str(pickle))
    position = {info.id: k for k, info in enumerate(dataset.infos)}
    sample = dataset[position[NAMES[1]]]
    assert sample["pose2d"].shape == (2, 5, 17, 3) and not sample["pose2d"][1].any()  # second person padded
    frames = sample["meta"]["frames"]
    expected = annotations[1]["keypoint"][0, frames].astype(np.float32)
    np.testing.assert_allclose(sample["pose2d"][0, :, :, :2], expected)
    np.testing.assert_allclose(sample["pose2d"][0, :, :, 2], annotations[1]["keypoint_score"][0, frames].astype(np.float32))
    assert sample["meta"]["pose2d_layout"] == "coco17" and sample["rgb"].shape[0] == 5
    assert "pose2d" not in dataset[position[NAMES[2]]]  # RGB only: no annotation for that name
    three_d = write_pickle(ntu_root / "3d.pkl", {"split": {}, "annotations": pyskl_annotations(NAMES[:1])})
    with pytest.raises(DataError, match="holds 3D keypoints"):
        NtuRgbd("all", modalities=["pose2d"], missing="none", pose2d_pickle=str(three_d))[0]
    with pytest.raises(RecipeError, match=r"skeleton_dir: needed for modality 'pose2d' \(or pose2d_pickle"):
        NtuRgbd("all", modalities=["rgb", "pose2d"], missing="none", rgb_dir=str(ntu_root / "rgb"),
                pose2d_pickle=None, skeleton_dir=None)


def test_training_split_samples_at_random_and_reproducibly(ntu_root):
    dataset = NtuRgbd("train", skeleton_dir=str(ntu_root / "skeletons"), num_frames=4, sampling="clip")
    first = dataset[0]["meta"]["frames"]
    assert np.array_equal(first, dataset[0]["meta"]["frames"])
    assert np.all(np.diff(first) == 1)
    draws = set()
    for epoch in range(8):
        dataset.set_epoch(epoch)
        draws.add(tuple(dataset[0]["meta"]["frames"]))
    assert len(draws) > 1


def test_registered_with_typed_args(ntu_root):
    block = {"name": "ntu", "args": {"protocol": "xview", "skeleton_dir": str(ntu_root / "skeletons")}}
    _, dataset = build_spec("dataset", block, BuildContext(get_registry(), "data.dataset"), split="train")
    assert [i.id for i in dataset.infos] == [NAMES[1], NAMES[2]]
    with pytest.raises(RecipeError, match="skeleton_folder"):
        build_spec("dataset", {"name": "ntu", "args": {"skeleton_folder": "x"}},
                   BuildContext(get_registry(), "data.dataset"), split="train")
    with pytest.raises(RecipeError, match="rgb_dir: needed for modality 'rgb'"):
        NtuRgbd("train", skeleton_dir=str(ntu_root / "skeletons"), modalities=["rgb"])
    with pytest.raises(DataError, match="skeleton_dir: directory not found"):
        NtuRgbd("train", skeleton_dir=str(ntu_root / "nowhere"))


def test_bad_files_are_errors_naming_the_file_and_scan_lists_them_all(ntu_root):
    skeletons, rgb, depth = ntu_root / "skeletons", ntu_root / "rgb", ntu_root / "depth"
    truncated = skeletons / f"{NAMES[0]}.skeleton"
    truncated.write_text("\n".join(truncated.read_text().splitlines()[:50]))
    nan_frames = one_body_frames(10)
    nan_frames[3][0][1][7, 1] = np.nan
    write_skeleton(skeletons / f"{NAMES[2]}.skeleton", nan_frames)
    (rgb / f"{NAMES[2]}_rgb.avi").write_bytes(b"")
    (rgb / f"{NAMES[1]}.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    write_depth_folder(depth / NAMES[0], blob_depth(10, h=240, w=320))  # overwrite with the wrong size
    eight_bit = depth / NAMES[1] / "MDepth-00000003.png"
    from PIL import Image

    Image.fromarray(np.zeros((424, 512), np.uint8)).save(eight_bit)

    def error(modalities, name, backend="pyav"):
        dataset = NtuRgbd("all", modalities=modalities, missing="none", backend=backend, **dirs(ntu_root))
        with pytest.raises(DataError) as info:
            dataset[[i.id for i in dataset.infos].index(name)]
        return str(info.value)

    assert f"{NAMES[0]}.skeleton: truncated: expected" in error(["skeleton"], NAMES[0])
    message = error(["skeleton"], NAMES[2])
    assert f"{NAMES[2]}.skeleton, line 96: expected finite joint values (no NaN/inf), got 1 such row(s)" in message
    assert f"{NAMES[2]}_rgb.avi: the video file is empty (0 bytes)" in error(["rgb"], NAMES[2])
    for backend in BACKENDS:
        assert f"{NAMES[1]}.mp4: cannot open the video with" in error(["rgb"], NAMES[1], backend)
    assert "MDepth-00000001.png: depth frame is 320x240, expected 512x424" in error(["depth"], NAMES[0])
    assert "MDepth-00000003.png: depth PNG has mode 'L', expected 16-bit" in error(["pointcloud"], NAMES[1])

    dataset = NtuRgbd("all", modalities=["skeleton", "rgb", "depth"], missing="none", backend="pyav", **dirs(ntu_root))
    problems = dict(scan(dataset))
    assert sorted(problems) == sorted(NAMES[:3])
    assert "truncated" in problems[NAMES[0]] and "NaN" in problems[NAMES[2]]
