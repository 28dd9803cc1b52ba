"""``fusion predict`` on videos: a pose-trained run gets its ``pose2d`` from a pose estimator.

A toy MLP is trained on a PySKL 2D pickle (17 COCO joints); a video given to ``fusion predict`` must
give exactly the prediction of the estimator's poses written into a pickle. The slow test runs the
real MediaPipe estimator on tests/data/two_people_1080p.mp4 (MMAction2 demo video, see tests/pose).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from fusion.cli import main

sys.path.insert(0, str(Path(__file__).parents[1] / "formats"))
sys.path.insert(0, str(Path(__file__).parent))
from format_writers import ramp_video, write_video  # noqa: E402
from predict_plugin import BrightnessPose  # noqa: E402

VIDEO = Path(__file__).parents[1] / "data" / "two_people_1080p.mp4"


@pytest.fixture(scope="module")
def pose_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pose-run")
    rng = np.random.default_rng(0)
    names = [f"S001C001P00{p}R001A00{a}" for p in (1, 2, 3) for a in (1, 2)]
    annotations = [{"frame_dir": n, "label": int(n[-1]) - 1, "total_frames": 8, "img_shape": (48, 64),
                    "keypoint": rng.uniform(0, 60, (2, 8, 17, 2)).astype(np.float32),
                    "keypoint_score": rng.uniform(0, 1, (2, 8, 17)).astype(np.float32)} for n in names]
    pkl = tmp / "poses.pkl"
    pkl.write_bytes(pickle.dumps({"annotations": annotations,
                                  "split": {"xsub_train": names[:4], "xsub_val": names[4:]}}, protocol=4))
    recipe = {
        "name": "pose_toy", "plugins": ["toy_plugin", "predict_plugin"],
        "data": {"dataset": {"name": "pose_pickle", "args": {"path": str(pkl), "protocol": "xsub"}},
                 "modalities": ["pose2d"], "num_workers": 0,
                 "transforms": {"train": [], "test": [{"name": "skeleton.uniform_sample",
                                                       "args": {"frames": 8, "random": False, "key": "pose2d"}}]}},
        "model": {"encoders": {"pose2d": {"name": "toy_mlp_pose", "args": {"in_channels": 3, "joints": 17, "dim": 8}}}},
        "train": {"epochs": 1, "batch_size": 2, "optimizer": {"name": "sgd", "lr": 0.05}, "log_every": 100},
        "eval": {"batch_size": 8},
    }
    path = tmp / "pose.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run = tmp / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    return run


def _predict(run, inputs, out, *extra):
    assert main(["predict", str(run), *map(str, inputs), "--out", str(out), "--trust-plugins", *extra]) == 0
    return json.loads((out / "predictions.json").read_text())["predictions"]


def test_video_goes_through_the_pose_estimator(pose_run, tmp_path):
    frames = ramp_video(12)
    video = write_video(tmp_path / "clip.mp4", frames)
    [row] = _predict(pose_run, [video], tmp_path / "video", "--pose-estimator", "fake_pose", "--overlay")
    assert (tmp_path / "video" / "clip.mp4").stat().st_size > 0
    # the same poses, from the decoded frames, as a pickle
    from fusion.registry import get_registry

    [sample] = get_registry().get("input_format", "video").factory(str(video), None, 2, 2048)
    pose, _ = BrightnessPose()(sample["rgb"])
    pkl = tmp_path / "same.pkl"
    pkl.write_bytes(pickle.dumps({"annotations": [{"frame_dir": "clip", "label": 0, "keypoint": pose[..., :2],
                                                   "keypoint_score": pose[..., 2]}]}, protocol=4))
    [expected] = _predict(pose_run, [pkl], tmp_path / "pickle")
    np.testing.assert_allclose(row["probabilities"], expected["probabilities"], atol=1e-6)
    assert "pose" in row["seconds"] and "decode" in row["seconds"]


@pytest.mark.slow
def test_real_video_with_mediapipe(pose_run, tmp_path, capsys):
    pytest.importorskip("mediapipe")
    [row] = _predict(pose_run, [VIDEO], tmp_path, "--pose-estimator", "mediapipe", "--overlay")
    assert abs(sum(row["probabilities"]) - 1) < 1e-5
    assert (tmp_path / "two_people_1080p.mp4").stat().st_size > 10_000


def test_stream_on_a_video_with_overlay(pose_run, tmp_path, capsys):
    video = write_video(tmp_path / "live.mp4", ramp_video(20))
    out = tmp_path / "out"
    assert main(["predict", str(pose_run), "--stream", str(video), "--window", "8", "--stride", "6",
                 "--pose-estimator", "fake_pose", "--out", str(out), "--overlay", "--overlay-format", "gif",
                 "--trust-plugins"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("frame ")]
    assert [int(line.split(":")[0].split()[1]) for line in lines] == [8, 14, 20]
    assert all("pose" in line for line in lines)  # the estimator's time is reported per window
    windows = json.loads((out / "stream.json").read_text())["windows"]
    assert [w["end_frame"] for w in windows] == [8, 14, 20]
    assert all(abs(sum(t["probability"] for t in w["top"]) - 1) < 1e-5 for w in windows)  # 2 classes, top-5
    from PIL import Image

    with Image.open(out / "live-stream.gif") as gif:
        assert gif.n_frames == 20
