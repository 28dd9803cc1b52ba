"""``fusion data check | show | stats`` on tiny SynthAct recipes and on a dataset with bad samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from fusion.cli import main
from fusion.data.check import scan

HERE = Path(__file__).parent
SYNTH = {"subjects": 2, "classes": 4, "frames": 6, "size": 32, "repetitions": 1}  # 24 samples, 12 per xsub split


def _recipe(tmp_path: Path, data: dict, plugins: list[str] | None = None, name: str = "data.yaml") -> str:
    recipe = {"data": data} | ({"plugins": plugins} if plugins else {})
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.fixture
def synth_recipe(tmp_path):
    args = SYNTH | {"cache_dir": str(tmp_path / "cache"), "modalities": ["skeleton", "pose2d", "rgb", "depth", "pointcloud"]}
    return _recipe(tmp_path, {"dataset": {"name": "synthact", "args": args}, "modalities": ["skeleton", "rgb", "depth", "pointcloud"]})


@pytest.fixture
def flaky_recipe(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    return _recipe(tmp_path, {"dataset": {"name": "flaky"}, "modalities": ["skeleton"]}, plugins=["flaky_data_plugin"])


def test_check_passes_on_good_data(synth_recipe, capsys):
    assert main(["data", "check", synth_recipe]) == 0
    out = capsys.readouterr().out
    assert "train: 12 samples, ok" in out and "test: 12 samples, ok" in out and "all good" in out


def test_check_lists_every_bad_sample_and_fails(flaky_recipe, capsys):
    assert main(["data", "check", flaky_recipe]) == 1
    out = capsys.readouterr().out
    assert "train: 6 samples, 2 bad" in out and "test: 6 samples, 2 bad" in out
    assert "train_clip02: train_clip02.skeleton: truncated: expected 25 joint lines, got 7" in out
    assert "test_clip04: skeleton (1, 4, 25, 3) has 1 NaN or infinite value(s)" in out
    assert "4 bad" in out.splitlines()[-1]


def test_check_reports_a_corrupt_file_that_stops_the_dataset_being_built(synth_recipe, tmp_path, capsys):
    assert main(["data", "check", synth_recipe]) == 0  # generates the cache
    (depth,) = (tmp_path / "cache").glob("*/depth.npy")
    depth.write_bytes(depth.read_bytes()[:1000])
    capsys.readouterr()
    assert main(["data", "check", synth_recipe]) == 1
    out = capsys.readouterr().out
    assert "train split: cannot build the dataset" in out and "depth.npy is unreadable" in out


def test_scan_uses_a_dataset_s_own_check():
    class Checked:
        def __len__(self):
            return 3

        def check(self, progress=None):
            return [("S001C001P001R001A001", "MDepth-00000002.png: expected 512x424, got 64x64")]

    assert scan(Checked()) == [("S001C001P001R001A001", "MDepth-00000002.png: expected 512x424, got 64x64")]


def test_show_writes_a_png_and_a_gif(synth_recipe, tmp_path, capsys):
    png, gif = tmp_path / "one.png", tmp_path / "clip.gif"
    assert main(["data", "show", synth_recipe, "--index", "5", "--out", str(png)]) == 0
    assert f"wrote {png}" in capsys.readouterr().out
    image = Image.open(png)
    assert image.format == "PNG" and image.width > 2 * image.height  # three panels side by side
    assert np.asarray(image.convert("RGB")).std() > 10  # not blank
    assert main(["data", "show", synth_recipe, "data.modalities=[skeleton,depth]", "--index", "0", "--split", "test",
                 "--out", str(gif)]) == 0
    assert Image.open(gif).n_frames == 6


def test_show_rejects_a_bad_index_and_suffix(synth_recipe, tmp_path, capsys):
    assert main(["data", "show", synth_recipe, "--index", "12", "--out", str(tmp_path / "x.png")]) == 2
    assert "--index 12 is outside the train split's 12 samples" in capsys.readouterr().err
    assert main(["data", "show", synth_recipe, "--out", str(tmp_path / "x.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err


def test_stats_prints_class_counts_and_modalities(synth_recipe, capsys):
    assert main(["data", "stats", synth_recipe, "data.dataset.args.protocol=xview"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["class", "train", "test"]
    # xview: camera 2 trains (camera 3 validates), camera 1 tests; 2 subjects
    assert lines[1].split() == ["0", "drink", "water", "2", "2"]
    assert lines[5].split() == ["total", "8", "8"]
    assert "  train: skeleton 8/8, rgb 8/8, depth 8/8, pointcloud 8/8" in lines


def test_stats_counts_a_dataset_by_loading_it(flaky_recipe, capsys):
    assert main(["data", "stats", flaky_recipe, "--split", "train", "--json"]) == 0
    import json

    stats = json.loads(capsys.readouterr().out)
    assert stats["train"]["class_counts"] == {"a": 2, "b": 2, "c": 2}
    assert stats["train"]["modalities"] == {"skeleton": 6}
