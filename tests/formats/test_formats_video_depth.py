"""Frame sampling, the video backends, depth PNG reading and depth → point cloud geometry."""

import numpy as np
import pytest
from format_writers import ramp_video, write_depth_folder, write_video

from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.depth import depth_to_points, read_depth_folder, resolve_intrinsics
from fusion_plugins.formats.sampling import sample_indices
from fusion_plugins.formats.video import has_decord, has_torchcodec, open_video, resolve_backend


def test_frame_sampling_rules():
    assert sample_indices(10, 5).tolist() == [1, 3, 5, 7, 9]  # centres of 5 segments
    assert sample_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # short sequences repeat
    assert sample_indices(10, 4, "clip", stride=2).tolist() == [1, 3, 5, 7]  # centred start
    assert sample_indices(3, 4, "clip").tolist() == [0, 1, 2, 2]
    assert sample_indices(7, None).tolist() == list(range(7))
    rng = np.random.default_rng(0)
    for _ in range(20):
        drawn = sample_indices(100, 8, rng=rng)
        edges = np.arange(9) * 12.5
        assert np.all((drawn >= np.floor(edges[:-1])) & (drawn < edges[1:]))  # one frame inside each segment
        start = sample_indices(100, 8, "clip", stride=3, rng=rng)
        assert np.all(np.diff(start) == 3) and 0 <= start[0] <= 100 - 22
    with pytest.raises(RecipeError, match="sampling='dense' is unknown; expected one of uniform, clip"):
        sample_indices(10, 2, "dense")


@pytest.mark.parametrize("audio", [False, True])
def test_backends_agree_with_and_without_audio(tmp_path, audio):
    path = write_video(tmp_path / "clip.mp4", ramp_video(12), audio=audio)
    indices = np.array([11, 0, 5, 5])
    backends = ["pyav"] + [b for b, ok in (("torchcodec", has_torchcodec()), ("decord", has_decord())) if ok]
    frames = {b: open_video(path, b).read(indices) for b in backends}
    assert {open_video(path, b).num_frames for b in backends} == {12}
    np.testing.assert_allclose(frames["pyav"][:, 10, 10, 0], indices * 20, atol=6)
    for backend in backends:
        assert np.abs(frames["pyav"].astype(int) - frames[backend].astype(int)).max() <= 2, backend
    with pytest.raises(RecipeError, match="'opencv' is not a video backend"):
        resolve_backend("opencv")


def test_bad_videos(tmp_path):
    with pytest.raises(DataError, match="gone.mp4: video file not found"):
        open_video(tmp_path / "gone.mp4")
    (tmp_path / "text.avi").write_text("this is not a video")
    for backend in ("pyav", "torchcodec", "decord"):  # decord counts frames with PyAV first
        name = {"pyav": "PyAV", "torchcodec": "torchcodec", "decord": "PyAV"}[backend]
        if backend == "pyav" or (has_torchcodec() if backend == "torchcodec" else has_decord()):
            with pytest.raises(DataError, match=f"text.avi: cannot open the video with {name}"):
                open_video(tmp_path / "text.avi", backend)


def test_depth_folder_and_points_geometry(tmp_path):
    depth = np.zeros((2, 424, 512), dtype=np.uint16)
    depth[0, 212, 256 + 28] = 1000  # 28 px right of the centre at 1 m
    depth[0, 212 + 56, 256] = 2000  # 56 px below the centre at 2 m
    folder = write_depth_folder(tmp_path / "S001C001P001R001A001", depth)
    read = read_depth_folder(folder, np.array([1, 0]))
    assert read.dtype == np.uint16 and read.shape == (2, 424, 512) and read[1, 212, 284] == 1000
    points = depth_to_points(read[::-1], resolve_intrinsics("ntu_p4"), 4)
    assert points.shape == (2, 4, 3) and not points[1].any()  # frame 2 has no reading: zeros
    np.testing.assert_allclose(np.unique(points[0], axis=0), [[0.0, 0.4, 2.0], [0.1, 0.0, 1.0]], atol=1e-6)
    kinect = depth_to_points(read[::-1], resolve_intrinsics("kinect_v2"), 2)
    np.testing.assert_allclose(kinect[0], [[28 / 365.5, 0, 1.0], [0, -112 / 365.5, 2.0]], atol=1e-6)  # y up
    custom = resolve_intrinsics({"fx": 100, "fy": 100, "cx": 0, "cy": 0})
    assert custom["y_up"] is False and custom["fx"] == 100.0
    with pytest.raises(RecipeError, match="unknown preset 'ntu'"):
        resolve_intrinsics("ntu")


def test_depth_points_sampling_is_random_in_training_and_fixed_otherwise():
    depth = np.zeros((1, 10, 10), dtype=np.uint16)
    depth[0, 2:8, 2:8] = 1500
    k = resolve_intrinsics("ntu_p4")
    fixed = depth_to_points(depth, k, 8)
    assert np.array_equal(fixed, depth_to_points(depth, k, 8))
    drawn = depth_to_points(depth, k, 8, np.random.default_rng(1))
    assert len({tuple(p) for p in drawn[0]}) == 8  # without replacement when enough pixels
    many = depth_to_points(depth, k, 50, np.random.default_rng(1))
    assert len({tuple(p) for p in many[0]}) == 36  # all 36 valid pixels, repeated to fill 50


def test_bad_depth_pngs(tmp_path):
    from PIL import Image

    folder = tmp_path / "S001C001P001R001A001"
    folder.mkdir()
    with pytest.raises(DataError, match="no depth frames"):
        read_depth_folder(folder)
    Image.fromarray(np.zeros((424, 512, 3), np.uint8)).save(folder / "MDepth-00000001.png")
    with pytest.raises(DataError, match="MDepth-00000001.png: depth PNG has mode 'RGB'"):
        read_depth_folder(folder)
    (folder / "MDepth-00000001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(DataError, match="MDepth-00000001.png: cannot decode the depth PNG"):
        read_depth_folder(folder)
    Image.fromarray(np.zeros((424, 512), np.uint16)).save(folder / "MDepth-00000001.png")
    Image.fromarray(np.zeros((400, 512), np.uint16)).save(folder / "MDepth-00000002.png")
    with pytest.raises(DataError, match="depth frames differ in size"):
        read_depth_folder(folder, size=None)
