"""``fusion predict`` on every skeleton format equals ``fusion eval`` on the same sample; stream; overlay.

A tiny run (the toy MLP on 25 joints) is trained on NTU ``.skeleton`` files written here; the test
samples are then rewritten in the other formats (PKU-MMD text, PySKL pickle, st-gcn npy) and given
to ``fusion predict``. Kinetics JSON (18 joints) gets its own tiny run.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from fusion.cli import main

sys.path.insert(0, str(Path(__file__).parents[1] / "formats"))
from format_writers import kinetics_frame, standing_body, write_json, write_skeleton  # noqa: E402

FRAMES = 20
# xsub: P001, P002 train; P003 tests
NAMES = [f"S001C001P00{p}R001A00{a}" for p in (1, 2, 3) for a in (1, 2)]


def _train(tmp: Path, data: dict, joints: int, name: str) -> Path:
    recipe = {
        "name": name, "plugins": ["toy_plugin"], "data": data,
        "model": {"encoders": {"skeleton": {"name": "toy_mlp", "args": {"in_channels": 3, "joints": joints, "dim": 8}}}},
        "train": {"epochs": 2, "batch_size": 2, "optimizer": {"name": "sgd", "lr": 0.05}, "log_every": 100},
        "eval": {"batch_size": 8},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run = tmp / f"run-{name}"
    assert main(["train", str(path), "--out", str(run)]) == 0
    return run


def _eval_scores(run: Path, capsys) -> tuple[np.ndarray, np.ndarray]:
    assert main(["eval", str(run), "--trust-plugins"]) == 0
    capsys.readouterr()
    [npz] = sorted(run.glob("predictions-*.npz"))
    with np.load(npz) as data:
        scores, indices = data["scores"], data["indices"]
    npz.unlink()
    order = np.argsort(indices)
    return scores[order], indices[order]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _predict(run: Path, inputs: list, out: Path, *extra) -> dict:
    assert main(["predict", str(run), *map(str, inputs), "--out", str(out), "--trust-plugins", *extra]) == 0
    return json.loads((out / "predictions.json").read_text())


@pytest.fixture(scope="module")
def ntu_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    folder = tmp / "skeletons"
    for k, name in enumerate(NAMES):
        xyz = standing_body(FRAMES, amplitude=0.05 + 0.1 * int(name[-1]), seed=k)
        write_skeleton(folder / f"{name}.skeleton", [[(72057594037931101, xyz[t])] for t in range(FRAMES)])
    data = {"dataset": {"name": "ntu", "args": {"skeleton_dir": str(folder), "benchmark": None, "missing": "none",
                                                "modalities": ["skeleton"]}},
            "modalities": ["skeleton"], "num_workers": 0,
            "transforms": {"train": [{"name": "skeleton.center"}], "test": [{"name": "skeleton.center"}]}}
    return _train(tmp, data, 25, "ntu_toy"), folder


def _test_samples(folder: Path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    dataset = NtuRgbd("test", skeleton_dir=str(folder), benchmark=None, missing="none", modalities=["skeleton"])
    return [dataset[i] for i in range(len(dataset))]


def test_predict_each_skeleton_format_matches_eval(ntu_run, tmp_path, capsys):
    run, folder = ntu_run
    scores, _ = _eval_scores(run, capsys)
    expected = _softmax(scores)
    samples = _test_samples(folder)
    assert len(samples) == len(expected) == 2
    # the same test samples in every format
    skeletons = [folder / f"{NAMES[4 + k]}.skeleton" for k in range(2)]
    arrays = [s["skeleton"] for s in samples]  # (2, T, 25, 3), second person zero
    pku = []
    for k, array in enumerate(arrays):
        path = tmp_path / f"pku{k}.txt"
        path.write_text("\n".join(" ".join(f"{v:.9g}" for v in frame.ravel()) for frame in array.transpose(1, 0, 2, 3)))
        pku.append(path)
    pkl = tmp_path / "poses.pkl"
    pkl.write_bytes(pickle.dumps({"annotations": [{"frame_dir": f"x{k}", "label": 0, "keypoint": a}
                                                  for k, a in enumerate(arrays)]}, protocol=4))
    npy = tmp_path / "packed.npy"
    np.save(npy, np.stack([a.transpose(3, 1, 2, 0) for a in arrays]))  # (N, C, T, V, M)
    cases = {"ntu": skeletons, "pku": pku, "pickle": [pkl], "npy": [npy]}
    for kind, inputs in cases.items():
        rows = _predict(run, inputs, tmp_path / kind)["predictions"]
        got = np.array([r["probabilities"] for r in rows])
        assert got.shape == expected.shape, kind
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
        assert (got.argmax(1) == expected.argmax(1)).all(), kind
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=kind)
    out = capsys.readouterr().out
    assert f"{NAMES[4]}: " in out  # top-k printed with class names
    csv_rows = (tmp_path / "ntu" / "predictions.csv").read_text().splitlines()
    assert csv_rows[0] == "id,rank,class,probability" and len(csv_rows) == 1 + 2 * 2  # 2 classes, 2 samples


def test_kinetics_json_matches_eval(tmp_path, capsys):
    root = tmp_path / "kinetics"
    for part in ("train", "val"):
        labels = {}
        for k in range(4):
            vid = f"{part}{k}"
            frames = [kinetics_frame(t, [(0.3 + 0.1 * (k % 2) + 0.01 * t, 0.9)]) for t in range(12)]
            write_json(root / f"kinetics_{part}" / f"{vid}.json", {"data": frames, "label": "x", "label_index": k % 2})
            labels[vid] = {"has_skeleton": True, "label": "x", "label_index": k % 2}
        write_json(root / f"kinetics_{part}_label.json", labels)
    data = {"dataset": {"name": "kinetics_skeleton", "args": {"root": str(root), "num_classes": 2}},
            "modalities": ["skeleton"], "num_workers": 0}
    run = _train(tmp_path, data, 18, "kinetics_toy")
    scores, _ = _eval_scores(run, capsys)
    files = [root / "kinetics_val" / f"val{k}.json" for k in range(4)]
    rows = _predict(run, files, tmp_path / "out", "--format", "kinetics_json")["predictions"]
    got = np.array([r["probabilities"] for r in rows])
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    assert (got.argmax(1) == scores.argmax(1)).all()
    np.testing.assert_allclose(got, _softmax(scores), atol=1e-4)


def test_stream_emits_one_prediction_per_stride(ntu_run, capsys):
    run, folder = ntu_run
    source = folder / f"{NAMES[4]}.skeleton"
    assert main(["predict", str(run), "--stream", str(source), "--window", "8", "--stride", "4",
                 "--trust-plugins"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("frame ")]
    ends = [int(line.split(":")[0].split()[1]) for line in lines]
    assert ends == list(range(8, FRAMES + 1, 4))  # frames 8, 12, 16, 20
    assert all("latency" in line and "model" in line for line in lines)


def test_overlay_is_written_and_decodes(ntu_run, tmp_path, capsys):
    run, folder = ntu_run
    source = folder / f"{NAMES[4]}.skeleton"
    _predict(run, [source], tmp_path, "--overlay")
    video = tmp_path / f"{NAMES[4]}.mp4"
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == FRAMES
    assert frames[0].std() > 5  # the skeleton and label are drawn, not a blank frame


def test_untrusted_run_plugins_refused(ntu_run, tmp_path, monkeypatch, capsys):
    run, folder = ntu_run
    monkeypatch.setenv("FUSION_STATE_DIR", str(tmp_path / "elsewhere"))  # a machine that did not train the run
    assert main(["predict", str(run), str(folder / f"{NAMES[4]}.skeleton")]) == 2
    assert "--trust-plugins" in capsys.readouterr().err


def test_unreadable_input_names_the_file(ntu_run, tmp_path, capsys):
    run, _ = ntu_run
    odd = tmp_path / "notes.xyz"
    odd.write_text("hello")
    assert main(["predict", str(run), str(odd), "--trust-plugins"]) == 2
    err = capsys.readouterr().err
    assert "notes.xyz" in err and "no input format" in err


def test_multi_clip_recipe_averages_the_same_clips_as_eval(ntu_run, tmp_path, capsys):
    """eval.clips: 3 with a random test sampler: predict on the test files (in eval's order) gives eval's average."""
    _, folder = ntu_run
    sampler = {"name": "skeleton.uniform_sample", "args": {"frames": 6, "random": True}}
    data = {"dataset": {"name": "ntu", "args": {"skeleton_dir": str(folder), "benchmark": None, "missing": "none",
                                                "modalities": ["skeleton"]}},
            "modalities": ["skeleton"], "num_workers": 0,
            "transforms": {"train": [sampler], "test": [sampler]}}
    run = _train(tmp_path, data, 25, "clips_toy")
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["eval"]["clips"] = 3
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    scores, _ = _eval_scores(run, capsys)  # averaged probabilities for clips > 1
    inputs = [folder / f"{NAMES[4 + k]}.skeleton" for k in range(2)]
    got = np.array([r["probabilities"] for r in _predict(run, inputs, tmp_path / "out")["predictions"]])
    np.testing.assert_allclose(got, scores, atol=1e-5)
    one = np.array([r["probabilities"] for r in _predict(run, inputs, tmp_path / "one", "--clips", "1")["predictions"]])
    assert not np.allclose(one, got, atol=1e-6)  # the clips differ: averaging them is not a no-op


def test_class_names_without_summary_or_dataset(ntu_run, tmp_path, capsys):
    """A copied run without summary.json whose dataset is elsewhere still predicts, with numbered classes."""
    import shutil

    run, folder = ntu_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "summary.json").unlink()
    recipe = yaml.safe_load((copy / "recipe.yaml").read_text())
    recipe["data"]["dataset"]["args"]["skeleton_dir"] = str(tmp_path / "not-here")
    recipe["model"]["num_classes"] = 2
    (copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    rows = _predict(copy, [folder / f"{NAMES[4]}.skeleton"], tmp_path / "out")["predictions"]
    assert [t["class"] for t in rows[0]["top"]] in (["0", "1"], ["1", "0"])
