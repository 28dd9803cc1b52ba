"""Video reads are exact or fail (issue 16): random access returns the frame asked for in AVI and MP4 (B-frames,
short GOP) with every backend; a video cut in half is a DataError for every backend and fails ``fusion data check``;
an NTU video shorter than its skeleton file is a DataError. Videos are generated here (each frame's index is drawn
as 8 black/white blocks, so a decoded frame names itself despite compression)."""

import json

import av
import numpy as np
import pytest
from format_writers import one_body_frames, write_skeleton

from fusion.cli import main
from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.video import check_counts, has_decord, has_torchcodec, open_video, resolve_backend

BACKENDS = ["pyav"] + (["torchcodec"] if has_torchcodec() else []) + (["decord"] if has_decord() else [])
FRAMES = 103  # NTU's S001C001P001R001A001 length


def coded_frames(count: int) -> np.ndarray:
    frames = np.zeros((count, 64, 64, 3), np.uint8)
    for index in range(count):
        for bit in range(8):
            if index >> bit & 1:
                frames[index, bit // 4 * 32:bit // 4 * 32 + 32, bit % 4 * 16:bit % 4 * 16 + 16] = 255
    return frames


def frame_index(frame: np.ndarray) -> int:
    return sum(1 << bit for bit in range(8) if frame[bit // 4 * 32 + 16, bit % 4 * 16 + 8, 0] > 128)


def write_coded(path, count: int = FRAMES):
    """MPEG-4 part 2 in AVI (as NTU) or H.264 in MP4, GOP 10 with B-frames: seeking has to be right."""
    codec = "libx264" if path.suffix == ".mp4" and "libx264" in av.codecs_available else "mpeg4"
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.gop_size = 10
        stream.codec_context.max_b_frames = 2
        for frame in coded_frames(count):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_random_access_returns_the_frames_asked_for(tmp_path, backend, suffix):
    video = open_video(write_coded(tmp_path / f"clip{suffix}"), backend)
    assert video.num_frames == FRAMES
    rng = np.random.default_rng(0)
    for indices in (rng.integers(0, FRAMES, 24), np.array([50, 20, 102, 0, 0, 99, 51]), np.arange(FRAMES)[::-1]):
        assert [frame_index(f) for f in video.read(indices)] == indices.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_video_cut_in_half_is_a_data_error(tmp_path, backend):
    path = cut_in_half(write_coded(tmp_path / "S001C001P001R001A001_rgb.avi"))
    with pytest.raises(DataError, match=r"_rgb.avi: the header says 103 frames but the file holds \d+ \(truncated"):
        open_video(path, backend)


def test_frame_count_checks():
    check_counts("v.avi", 103, 103, 103 / 30, 30.0)
    check_counts("v.avi", 103, None, None, None)  # containers without a count or duration
    check_counts("v.avi", 103, 104, 3.45, 30.0)  # one frame of slack (an empty packet)
    with pytest.raises(DataError, match=r"v.avi: the stream lasts 6.867 s at 30 fps \(206 frames\) but the file holds 103"):
        check_counts("v.avi", 103, None, 206 / 30, 30.0)
    with pytest.raises(DataError, match="v.avi: the video has no frames"):
        check_counts("v.avi", 0, 10, None, None)


def test_auto_prefers_torchcodec():
    assert resolve_backend("auto") == ("torchcodec" if has_torchcodec() else "pyav")
    with pytest.raises(RecipeError, match="'opencv' is not a video backend; choose one of auto, torchcodec, pyav, decord"):
        resolve_backend("opencv")


@pytest.fixture
def ntu_truncated(tmp_path):
    """One NTU take whose 103-frame skeleton is intact and whose _rgb.avi is cut in half, plus a good take."""
    for name in ("S001C001P001R001A001", "S001C001P001R001A002"):
        write_skeleton(tmp_path / "skeletons" / f"{name}.skeleton", one_body_frames(FRAMES))
        write_coded(tmp_path / "rgb" / f"{name}_rgb.avi")
    cut_in_half(tmp_path / "rgb" / "S001C001P001R001A001_rgb.avi")
    recipe = {"data": {"modalities": ["skeleton", "rgb"], "dataset": {"name": "ntu", "args": {
        "skeleton_dir": str(tmp_path / "skeletons"), "rgb_dir": str(tmp_path / "rgb"), "benchmark": None,
        "missing": "none", "modalities": ["skeleton", "rgb"], "num_frames": 16, "backend": "pyav"}}}}
    (tmp_path / "data.yaml").write_text(json.dumps(recipe))
    return tmp_path


def test_truncated_video_fails_data_check(ntu_truncated, capsys):
    assert main(["data", "check", str(ntu_truncated / "data.yaml"), "--split", "train"]) == 1
    out = capsys.readouterr().out
    assert "train: 2 samples, 1 bad" in out and "S001C001P001R001A001_rgb.avi: the header says 103 frames" in out
    assert "1 bad" in out.splitlines()[-1]


def test_video_shorter_than_its_skeleton(tmp_path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    name = "S001C001P001R001A001"
    write_skeleton(tmp_path / "skeletons" / f"{name}.skeleton", one_body_frames(FRAMES))
    write_coded(tmp_path / "rgb" / f"{name}_rgb.avi", count=27)  # intact, but 27 frames: not this take's video
    dataset = NtuRgbd("train", benchmark=None, missing="none", skeleton_dir=str(tmp_path / "skeletons"),
                      rgb_dir=str(tmp_path / "rgb"), num_frames=8, backend="pyav")
    with pytest.raises(DataError, match=rf"{name}_rgb.avi: the video holds 27 frames but .*{name}.skeleton has 103"):
        dataset[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_variable_frame_rate_video_is_accepted_whole(backend):
    """tests/data/two_people_1080p.mp4 (MMAction2's demo_skeleton.mp4, real camera footage): 72 frames over
    2.567 s at a nominal 30 fps (28.05 on average). Its header count agrees with its frames, so the nominal
    rate's 77 frames must not make it a "truncated" video."""
    from pathlib import Path

    video = open_video(Path(__file__).parents[1] / "data" / "two_people_1080p.mp4", backend)
    assert video.num_frames == 72
    assert video.read(np.array([0, 71])).shape == (2, 1080, 1920, 3)
