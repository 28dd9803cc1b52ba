"""``fusion predict`` on depth folders (depth and the point cloud back-projected from it) and RGB videos.

A run of tiny stand-in encoders (tests/predict/predict_plugin.py) is trained on NTU-named RGB videos
and masked-depth PNG folders written here; ``fusion predict`` given a test sample's video and depth
folder (joined by the NTU name) must give ``fusion eval``'s probabilities for that sample.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np
import yaml

from fusion.cli import main

sys.path.insert(0, str(Path(__file__).parents[1] / "formats"))
sys.path.insert(0, str(Path(__file__).parent))
from format_writers import write_depth_folder, write_video  # noqa: E402

NAMES = [f"S001C001P00{p}R001A00{a}" for p in (1, 2, 3) for a in (1, 2)]


def test_depth_pointcloud_and_video_match_eval(tmp_path, capsys):
    rgb_dir, depth_dir = tmp_path / "rgb", tmp_path / "depth"
    for k, name in enumerate(NAMES):
        level = 40 + 30 * k
        frames = np.full((6, 32, 48, 3), level, np.uint8)
        frames[:, 8:24, 10 + 4 * k: 30 + 4 * k] = 250
        write_video(rgb_dir / f"{name}_rgb.avi", frames)
        depth = np.zeros((6, 42, 51), np.uint16)
        depth[:, 10:30, 15 + k: 30 + k] = 1500 + 200 * k
        write_depth_folder(depth_dir / name, depth)
    modalities = ["rgb", "depth", "pointcloud"]
    recipe = {
        "name": "depth_video_toy", "plugins": ["predict_plugin"],
        "data": {"dataset": {"name": "ntu", "args": {"rgb_dir": str(rgb_dir), "depth_dir": str(depth_dir),
                                                     "modalities": modalities, "benchmark": None, "missing": "none",
                                                     "num_frames": 4, "points": 64, "depth_size": None}},
                 "modalities": modalities, "num_workers": 0},
        "model": {"encoders": {m: {"name": f"mean_{m}"} for m in modalities}},
        "train": {"epochs": 1, "batch_size": 2, "optimizer": {"name": "sgd", "lr": 0.05}, "log_every": 100},
        "eval": {"batch_size": 8},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    assert main(["eval", str(run), "--trust-plugins"]) == 0
    [npz] = run.glob("predictions-*.npz")
    with np.load(npz) as data:
        scores = data["scores"][np.argsort(data["indices"])]
    expected = np.exp(scores - scores.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    inputs = [p for name in NAMES[4:] for p in (rgb_dir / f"{name}_rgb.avi", depth_dir / name)]
    out = tmp_path / "out"
    assert main(["predict", str(run), *map(str, inputs), "--out", str(out), "--trust-plugins", "--overlay"]) == 0
    rows = json.loads((out / "predictions.json").read_text())["predictions"]
    assert [r["id"] for r in rows] == NAMES[4:]  # video and depth folder joined by the NTU name
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, atol=1e-5)
    with av.open(str(out / f"{NAMES[4]}.mp4")) as container:  # the overlay of a video input is the video
        assert sum(1 for _ in container.decode(video=0)) == 4


def test_point_cloud_folder(tmp_path):
    from fusion.registry import get_registry

    folder = tmp_path / "cloud"
    folder.mkdir()
    for t in range(5):
        np.save(folder / f"{t:04d}.npy", np.random.default_rng(t).normal(size=(100 + t, 3)).astype(np.float32))
    spec = get_registry().get("input_format", "point_folder")
    assert spec.accepts(str(folder))
    [sample] = spec.factory(str(folder), 3, 2, 32)
    assert sample["pointcloud"].shape == (3, 32, 3)
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "0.npy", np.zeros((4, 2), np.float32))
    try:
        spec.factory(str(bad), None, 2, 32)
    except Exception as exc:
        assert "0.npy" in str(exc) and "(N, 3)" in str(exc)
    else:
        raise AssertionError("a (4, 2) array was accepted as a point cloud")
