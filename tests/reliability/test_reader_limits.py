"""Readers by class of hostile input: never silently wrong, bounded in memory, one sentence naming the file.

Classes (each a parametrised test over every reader it applies to):

- non-regular files: a named pipe (or a directory) where a data or recipe file is expected is refused
  at once, never read forever;
- size bombs: files under 1 MB that declare huge sizes (frame counts, PNG dimensions, pickle
  allocations, npz headers and zip bombs, JSON nesting and digits, YAML aliases and nesting) are
  refused under a 1 GiB address-space cap (:mod:`reader_bombs`, run in a subprocess);
- labels of the wrong type (bool, float, string, None, negative, far above the class count);
- zero-frame and zero-person samples, and clip intervals past the end of a sequence;
- the budget is configurable (``FUSION_MAX_SAMPLE_MB``);
- ``fusion data check`` lists every bad file of a folder in one pass with counts per fault class, and
  training names the sample id and the file.
"""

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from alarm import deadline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
from format_writers import (  # noqa: E402
    blob_depth,
    kinetics_frame,
    one_body_frames,
    pku_sequence_text,
    pyskl_annotations,
    skeleton_text,
    write_depth_folder,
    write_json,
    write_pickle,
)

from fusion.cli import main  # noqa: E402
from fusion.errors import DataError, FusionError, RecipeError  # noqa: E402

HERE = Path(__file__).resolve().parent
NTU = "S001C001P001R001A003"


def within(seconds: int = 10):
    return deadline(seconds, "the reader blocks on the file")


def run_recipe(tmp_path: Path, recipe: dict, command: list[str], *options: str, seconds: int = 60) -> int:
    """``fusion COMMAND tmp_path/recipe.yaml OPTIONS`` on ``recipe`` (written as JSON, which is YAML), under a deadline."""
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(recipe))
    with within(seconds):
        return main([*command, str(path), *options])


# ------------------------------------------------------------------------------------------------ readers


def ntu_skeleton(root: Path, text: str | None = None):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    path = root / "skeletons" / f"{NTU}.skeleton"
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        path.write_text(text)
    return path, lambda: NtuRgbd("all", benchmark=None, skeleton_dir=str(root / "skeletons"), missing="none",
                                 num_classes=60)[0]


def ntu_video(root: Path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    (root / "rgb").mkdir(parents=True, exist_ok=True)
    return root / "rgb" / f"{NTU}_rgb.avi", lambda: NtuRgbd("all", benchmark=None, rgb_dir=str(root / "rgb"),
                                                             missing="none", num_classes=60, backend="pyav")[0]


def ntu_depth(root: Path, depth: np.ndarray | None = None):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    folder = root / "depth" / NTU
    folder.mkdir(parents=True, exist_ok=True)
    if depth is not None:
        write_depth_folder(folder, depth)
    return folder / "MDepth-00000001.png", lambda: NtuRgbd(
        "all", benchmark=None, depth_dir=str(root / "depth"), missing="none", num_classes=60,
        modalities=["depth", "pointcloud"], depth_size=[16, 12], points=16)[0]


def pyskl(root: Path, annotations=None):
    from fusion_plugins.formats.pyskl import PoseAnnotations

    path = root / "anno.pkl"
    if annotations is not None:
        write_pickle(path, {"annotations": annotations})
    return path, lambda: PoseAnnotations("all", str(path), num_classes=60)[0]


def stgcn(root: Path, labels=None, data=None):
    from fusion_plugins.formats.stgcn import StgcnArrays

    if data is None:
        data = np.random.default_rng(0).normal(size=(2, 3, 4, 25, 2)).astype(np.float32)
    np.save(root / "train_data.npy", data)
    path = root / "train_label.pkl"
    if labels is not None:
        write_pickle(path, (["a", "b"], labels))
    return path, lambda: StgcnArrays("train", str(root / "{split}_data.npy"), str(root / "{split}_label.pkl"),
                                     num_classes=60)[0]


def ctrgcn(root: Path, y=None, x=None):
    from fusion_plugins.formats.stgcn import CtrgcnNpz

    path = root / "NTU60_CS.npz"
    if y is not None:
        x = np.ones((2, 3, 150), np.float32) if x is None else x
        np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
    return path, lambda: CtrgcnNpz("train", str(path))[0]


def kinetics_video(root: Path, video=None):
    from fusion_plugins.formats.kinetics import KineticsSkeleton

    write_json(root / "kinetics_train_label.json", {"v": {"has_skeleton": True, "label": "x", "label_index": 1}})
    path = root / "kinetics_train" / "v.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if video is not None:
        write_json(path, video)
    return path, lambda: KineticsSkeleton("train", str(root), max_frames=8, num_classes=5)[0]


def kinetics_labels(root: Path, label_index=None):
    from fusion_plugins.formats.kinetics import KineticsSkeleton

    write_json(root / "kinetics_train" / "v.json", {"data": [kinetics_frame(0, [(0.5, 0.9)])]})
    path = root / "kinetics_train_label.json"
    if label_index is not None:
        write_json(path, {"v": {"has_skeleton": True, "label": "x", "label_index": label_index}})
    return path, lambda: KineticsSkeleton("train", str(root), max_frames=8, num_classes=5)[0]


def nwucla(root: Path, skeletons=None):
    from fusion_plugins.formats.nwucla import NwUcla

    path = root / "a01_s01_e01_v01.json"
    if skeletons is not None:
        write_json(path, {"skeletons": skeletons})
    return path, lambda: NwUcla("all", str(root))[0]


def pku(root: Path, labels: str | None = None, frames: int = 10, persons: int = 1, which: str = "label"):
    from fusion_plugins.formats.pkummd import PkuMmd, read_sequence

    read_sequence.cache_clear()
    (root / "skeleton").mkdir(exist_ok=True)
    (root / "label").mkdir(exist_ok=True)
    sequence, label = root / "skeleton" / "0002-M.txt", root / "label" / "0002-M.txt"
    if which != "skeleton":
        sequence.write_text(pku_sequence_text(frames, persons))
    if labels is not None:
        label.write_text(labels)
    return (label if which == "label" else sequence), lambda: PkuMmd("all", str(root / "skeleton"), str(root / "label"))[0]


def recipe(root: Path):
    from fusion.recipe import load_recipe

    path = root / "recipe.yaml"
    return path, lambda: load_recipe(path)


def expect_error(read, path: Path, pattern: str = "", kind=FusionError) -> str:
    with within(), pytest.raises(kind) as info:
        read()
    message = str(info.value)
    assert str(path) in message or str(path.parent) in message, message
    assert re.search(pattern, message), message
    assert "Traceback" not in message and "MemoryError" not in message
    return message


# ------------------------------------------------------------------------------------------------ non-regular files

PIPES = {
    "NTU .skeleton": lambda root: ntu_skeleton(root),
    "NTU depth PNG": lambda root: ntu_depth(root, None),
    "NTU RGB video": ntu_video,
    "PySKL pickle": lambda root: pyskl(root),
    "st-gcn label pickle": lambda root: stgcn(root),
    "CTR-GCN npz": lambda root: ctrgcn(root),
    "Kinetics video JSON": lambda root: kinetics_video(root),
    "Kinetics label JSON": lambda root: kinetics_labels(root),
    "NW-UCLA JSON": lambda root: nwucla(root),
    "PKU-MMD sequence": lambda root: pku(root, "1,0,5,1\n", which="skeleton"),
    "PKU-MMD label file": lambda root: pku(root),
    "recipe YAML": recipe,
}


@pytest.mark.parametrize("reader", list(PIPES))
def test_named_pipe_is_refused_not_read_forever(reader, tmp_path):
    path, read = PIPES[reader](tmp_path)
    if reader == "NTU depth PNG":
        write_depth_folder(path.parent, blob_depth(2, 12, 16))
        path.unlink()
    os.mkfifo(path)
    expect_error(read, path, r"named pipe|not a regular file|not found")


def test_directory_as_recipe_or_data_file(tmp_path):
    (tmp_path / "recipe.yaml").mkdir()
    expect_error(recipe(tmp_path)[1], tmp_path / "recipe.yaml", "is a directory", RecipeError)
    path, read = ntu_skeleton(tmp_path)
    path.mkdir()
    with within():
        read_skeleton = __import__("fusion_plugins.formats.ntu", fromlist=["read_skeleton"]).read_skeleton
        with pytest.raises(DataError, match="directory"):
            read_skeleton(path)


# ------------------------------------------------------------------------------------------------ bombs


def run_bombs(out: Path, everything: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(HERE / "reader_bombs.py"), str(out), *(["--all"] if everything else [])],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {row["bomb"]: row for row in map(json.loads, filter(None, done.stdout.splitlines()))}


def test_every_bomb_is_refused_with_one_sentence_under_a_memory_cap(tmp_path):
    from reader_bombs import BOMBS, SLOW

    check_bombs(run_bombs(tmp_path, False), set(BOMBS) - SLOW)


@pytest.mark.slow  # writing a 420 MB zip bomb and a 12000x12000 PNG takes seconds
def test_slow_bombs_are_refused_too(tmp_path):
    from reader_bombs import BOMBS

    check_bombs(run_bombs(tmp_path, True), set(BOMBS))


def check_bombs(bombs: dict, expected: set) -> None:
    assert set(bombs) == expected
    for name, row in bombs.items():
        assert row["bytes"] < 2**20, name
        assert row["outcome"] == "error", row
        message = row["message"]
        assert row["path"] in message or str(Path(row["path"]).parent) in message, row
        assert "Traceback" not in message and "MemoryError" not in message, row
        assert row["peak_growth"] < 2**28, row  # resident memory grew by less than 256 MiB


def test_budget_is_configurable(tmp_path, monkeypatch):
    """FUSION_MAX_SAMPLE_MB: one sentence names the file and the number; raising it lets a genuine file through."""
    frames = [[]] * 3000 + one_body_frames(1)
    path, read = ntu_skeleton(tmp_path, skeleton_text(frames))
    monkeypatch.setenv("FUSION_MAX_SAMPLE_MB", "1")
    message = expect_error(read, path, r"3001 frames x 2 bodies would take 2\.3 MiB, above the sample budget of "
                                       r"1\.0 MiB \(raise FUSION_MAX_SAMPLE_MB")
    assert path.name in message
    monkeypatch.setenv("FUSION_MAX_SAMPLE_MB", "4")
    assert read()["skeleton"].shape == (2, 3001, 25, 3)
    monkeypatch.setenv("FUSION_MAX_SAMPLE_MB", "lots")
    with pytest.raises(DataError, match=r"FUSION_MAX_SAMPLE_MB='lots': expected a number of MiB"):
        read()


def test_video_frame_size_is_checked_before_decoding(tmp_path, monkeypatch):
    from format_writers import ramp_video, write_video

    path, read = ntu_video(tmp_path)
    write_video(path, ramp_video(4, 48, 64))
    assert read()["rgb"].shape == (4, 48, 64, 3)
    monkeypatch.setenv("FUSION_MAX_SAMPLE_MB", "0.01")
    expect_error(read, path, r"decoded frame\(s\) of 64x48 would take .* above the sample budget")


# ------------------------------------------------------------------------------------------------ labels

WRONG_LABELS = {"bool": True, "float": 2.0, "string": "2", "None": None, "negative": -1, "huge": 10**12,
                "above the class count": 75}


def _pyskl_label(root, value):
    annotations = pyskl_annotations([NTU])
    annotations[0]["label"] = value
    return pyskl(root, annotations)


def _ctrgcn_label(root, value):
    y = np.array([value, 1], dtype=object)
    try:
        y = y.astype(type(value)) if value is not None else y
    except (TypeError, ValueError, OverflowError):
        pass
    return ctrgcn(root, y)


LABEL_READERS = {
    "PySKL pickle": _pyskl_label,
    "st-gcn label pickle": lambda root, value: stgcn(root, [value, 1]),
    "Kinetics label JSON": lambda root, value: kinetics_labels(root, value),
    "CTR-GCN npz": _ctrgcn_label,
    "PKU-MMD label file": lambda root, value: pku(root, f"{value},0,5,1\n"),
}


@pytest.mark.parametrize("kind", list(WRONG_LABELS))
@pytest.mark.parametrize("reader", list(LABEL_READERS))
def test_wrong_labels_are_data_errors(reader, kind, tmp_path):
    value = WRONG_LABELS[kind]
    path, read = LABEL_READERS[reader](tmp_path, value)
    if reader == "CTR-GCN npz" and kind == "above the class count":
        pytest.skip("an integer-labelled npz has as many classes as its largest label")
    if reader == "PKU-MMD label file" and kind in ("float", "huge", "string"):  # a text file: the token's spelling
        value = {"float": "2.5", "huge": "1e999", "string": "two"}[kind]
        path, read = pku(tmp_path, f"{value},0,5,1\n")
    expect_error(read, path, r"label|action_id|class")


# ------------------------------------------------------------------------------------------------ empty samples

EMPTY = {
    "NTU skeleton with no body in any frame": lambda root: ntu_skeleton(root, "3\n0\n0\n0\n"),
    "NTU masked depth with nobody": lambda root: ntu_depth(root, np.zeros((2, 12, 16), np.uint16)),
    "PySKL keypoints all zero": lambda root: pyskl(root, [{**pyskl_annotations([NTU])[0],
                                                             "keypoint": np.zeros((1, 4, 25, 3), np.float16)}]),
    "PySKL zero frames": lambda root: pyskl(root, [{**pyskl_annotations([NTU])[0], "total_frames": 0,
                                                    "keypoint": np.zeros((1, 0, 25, 3), np.float16)}]),
    "PySKL zero persons": lambda root: pyskl(root, [{**pyskl_annotations([NTU])[0],
                                                     "keypoint": np.zeros((0, 6, 25, 3), np.float16)}]),
    "st-gcn row of zeros": lambda root: stgcn(root, [0, 1], np.zeros((2, 3, 4, 25, 2), np.float32)),
    "st-gcn zero frames": lambda root: stgcn(root, [0, 1], np.zeros((2, 3, 0, 25, 2), np.float32)),
    "CTR-GCN zero frames": lambda root: ctrgcn(root, np.array([0, 1]), np.zeros((2, 0, 150), np.float32)),
    "CTR-GCN sample of zeros": lambda root: ctrgcn(root, np.array([0, 1]), np.zeros((2, 3, 150), np.float32)),
    "Kinetics without frames": lambda root: kinetics_video(root, {"data": []}),
    "Kinetics frames without persons": lambda root: kinetics_video(root, {"data": [kinetics_frame(0, [])]}),
    "NW-UCLA zero frames": lambda root: nwucla(root, []),
    "NW-UCLA all zeros": lambda root: nwucla(root, np.zeros((3, 20, 3)).tolist()),
    "PKU-MMD interval with nobody": lambda root: pku(root, "1,0,5,1\n", persons=0),
    "PKU-MMD interval past the end": lambda root: pku(root, "1,5,40,1\n", frames=10),
    "PKU-MMD interval starting after the end": lambda root: pku(root, "1,20,40,1\n", frames=10),
    "PKU-MMD empty interval": lambda root: pku(root, "1,5,5,1\n", frames=10),
}


@pytest.mark.parametrize("case", list(EMPTY))
def test_empty_samples_and_intervals_past_the_end_are_data_errors(case, tmp_path):
    path, read = EMPTY[case](tmp_path)
    expect_error(read, path, r"no person|no body|zeros|no depth reading|empty|frames|interval|should")


HUGE = {
    "NW-UCLA coordinate 3e38": lambda root: nwucla(root, [[[3e38, 0.0, 1.0]] + [[0.5, 0.5, 0.5]] * 19]),
    "PySKL keypoint 1e30": lambda root: pyskl(root, [{**pyskl_annotations([NTU])[0],
                                                      "keypoint": np.full((1, 6, 25, 3), 1e30, np.float32)}]),
    "PKU-MMD value 3e38": lambda root: (root / "skeleton").mkdir() or (root / "skeleton" / "0002-M.txt").write_text(
        "3e38 " + "1 " * 149 + "\n") and pku(root, "1,0,1,1\n", which="skeleton"),
    "Kinetics score 1e20": lambda root: kinetics_video(root, {"data": [kinetics_frame(0, [(0.5, 1e20)])]}),
}


@pytest.mark.parametrize("case", list(HUGE))
def test_corrupt_huge_numbers_are_data_errors(case, tmp_path):
    path, read = HUGE[case](tmp_path)
    expect_error(read, path, r"beyond \+-1e\+06|NaN/inf")


def test_valid_files_still_load(tmp_path):
    """The checks above leave genuine files alone (one of each reader)."""
    (tmp_path / "a").mkdir()
    assert ntu_skeleton(tmp_path / "a", skeleton_text(one_body_frames(4)))[1]()["skeleton"].shape == (2, 4, 25, 3)
    assert _pyskl_label(tmp_path, 2)[1]()["label"] == 2
    assert kinetics_labels(tmp_path / "k", 1)[1]()["label"] == 1
    assert pku(tmp_path, "3,0,5,1\n")[1]()["skeleton"].shape == (2, 5, 25, 3)
    assert stgcn(tmp_path, [0, 3])[1]()["label"] == 0


# ------------------------------------------------------------------------------------------------ data check, training


def _broken_kinetics(root: Path) -> dict[str, str]:
    """Seven videos: two good, five broken in five classes; {video id: expected pattern}."""
    good = {"data": [kinetics_frame(t, [(0.4, 0.9)]) for t in range(3)]}
    videos = {"good1": good, "good2": good, "nan": {"data": [kinetics_frame(0, [(float("nan"), 0.9)])]},
              "empty": {"data": []}}
    labels = {name: {"has_skeleton": True, "label": "x", "label_index": 1} for name in [*videos, "missing", "pipe",
                                                                                          "wrongtype"]}
    for name, video in videos.items():
        write_json(root / "kinetics_train" / f"{name}.json", video)
    os.mkfifo(root / "kinetics_train" / "pipe.json")
    write_json(root / "kinetics_train" / "wrongtype.json", {"data": [{"frame_index": "0", "skeleton": []}]})
    write_json(root / "kinetics_train_label.json", labels)
    write_json(root / "kinetics_val_label.json", {})
    (root / "kinetics_val").mkdir()
    return {"nan": "NaN", "empty": "no person", "missing": "not found", "pipe": "named pipe",
            "wrongtype": "frame_index '0', expected an integer"}


def test_data_check_lists_every_bad_file_in_one_pass_with_counts(tmp_path, capsys):
    broken = _broken_kinetics(tmp_path)
    code = run_recipe(tmp_path, {"data": {"dataset": {"name": "kinetics_skeleton", "args": {
        "root": str(tmp_path), "max_frames": 8, "num_classes": 5}}}}, ["data", "check"], "--split", "train")
    out = capsys.readouterr().out
    assert code == 1
    assert "train: 7 samples, 5 bad" in out
    problems = dict(re.findall(r"^  (\S+): (.*)$", out, re.M))
    assert set(problems) == set(broken)
    for name, pattern in broken.items():
        assert f"{name}.json" in problems[name] and pattern in problems[name], problems[name]
    assert re.search(r"5 bad \((?=.*non-finite values: 1)(?=.*empty sample: 1)(?=.*missing file: 1)"
                     r"(?=.*not a regular file: 1).*\)", out), out


def test_data_check_lists_every_bad_label_file(tmp_path, capsys):
    """Index files are reported one by one too (three bad PKU-MMD label files, one good)."""
    (tmp_path / "skeleton").mkdir()
    (tmp_path / "label").mkdir()
    for name, text in {"0001-M": "1,0,5,1\n", "0002-M": "x,0,5,1\n", "0003-M": "99,0,5,1\n", "0004-M": "2,5,1,1\n"}.items():
        (tmp_path / "skeleton" / f"{name}.txt").write_text(pku_sequence_text(8))
        (tmp_path / "label" / f"{name}.txt").write_text(text)
    code = run_recipe(tmp_path, {"data": {"dataset": {"name": "pku_mmd", "args": {
        "skeleton_dir": str(tmp_path / "skeleton"), "label_dir": str(tmp_path / "label"), "protocol": "xview"}}}},
        ["data", "check"], "--split", "all")
    out = capsys.readouterr().out
    assert code == 1 and "3 bad" in out, out
    assert {"0002-M.txt", "0003-M.txt", "0004-M.txt"} == set(re.findall(r"^  (\S+): ", out, re.M)), out


def test_training_error_names_the_sample_id_and_the_file(tmp_path, capsys):
    (tmp_path / "skeleton").mkdir()
    (tmp_path / "label").mkdir()
    for name in ("0001-M", "0002-R", "0003-L"):  # xview: M and R train, L tests
        (tmp_path / "skeleton" / f"{name}.txt").write_text(pku_sequence_text(8))
        (tmp_path / "label" / f"{name}.txt").write_text("1,0,4,1\n2,2,30,1\n" if name != "0003-L" else "1,0,4,1\n")
    recipe = {
        "plugins": ["toy_plugin"],
        "data": {"dataset": {"name": "pku_mmd", "args": {
            "skeleton_dir": str(tmp_path / "skeleton"), "label_dir": str(tmp_path / "label"), "num_classes": 4}},
            "modalities": ["skeleton"], "val_split": "none"},
        "model": {"num_classes": 4, "encoders": {"skeleton": {"name": "toy_mlp", "args": {"joints": 25, "dim": 8}}}},
        "train": {"epochs": 1, "batch_size": 2, "optimizer": {"name": "sgd", "lr": 0.01}},
    }
    code = run_recipe(tmp_path, recipe, ["train"], "--out", str(tmp_path / "run"), seconds=120)
    err = capsys.readouterr().err
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert re.search(r"000[12]-[MR]_001", line) and "skeleton/000" in line and "ends after" in line, err
    assert "Traceback" not in err


def test_pickle_object_arrays_are_one_sentence(tmp_path):
    annotations = pyskl_annotations([NTU])
    annotations[0]["keypoint"] = np.array([[["a"]]], dtype=object)
    path, read = pyskl(tmp_path, annotations)
    expect_error(read, path, r"'keypoint' should be a numeric array .* of dtype object")
    path.write_bytes(pickle.dumps({"annotations": [{"frame_dir": [[[]] * 3] * 3, "label": {}, "keypoint": None}]}))
    expect_error(read, path, r"problem")


# ------------------------------------------------------------------------------------------------ recipe YAML

def _laughs() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]" for k in range(1, 10)]
    return "\n".join(lines) + "\n"


BAD_YAML = {
    "non-UTF-8 bytes": (b"name: caf\xe9\n", r"not UTF-8 text"),
    "UTF-16 text": ("name: x\n".encode("utf-16"), r"not UTF-8 text"),
    "flow nesting 10,000 deep": (("a: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(), r"nested more than 64"),
    "block nesting 100 deep": (("a:\n" + "".join("  " * k + "- \n" for k in range(1, 100)) + "  " * 100 + "- x\n")
                               .encode(), r"nested"),
    "billion laughs": (_laughs().encode(), r"more than 200000 values once its aliases are expanded"),
    "recursive alias": (b"a: &a [*a]\n", r"refers to itself"),
    "integer of 5000 digits": (b"train: {epochs: " + b"9" * 5000 + b"}\n", r"unusable YAML value"),
    "over 64 kB": (b"# " + b"x" * 70_000 + b"\n", r"larger than 64 kB"),
    "python object tag": (b"name: !!python/object/apply:os.system ['echo hi']\n", r"not valid YAML"),
    "top-level list": (b"- a\n- b\n", r"must be a mapping"),
    "tab indentation": (b"data:\n\tdataset: x\n", r"not valid YAML"),
}


@pytest.mark.parametrize("case", list(BAD_YAML))
def test_bad_recipe_yaml_is_one_sentence(case, tmp_path):
    from fusion.recipe import load_recipe

    data, pattern = BAD_YAML[case]
    path = tmp_path / "recipe.yaml"
    path.write_bytes(data)
    with within():
        with pytest.raises(RecipeError, match=pattern) as info:
            load_recipe(path)
    assert str(path) in str(info.value) and "Traceback" not in str(info.value)


def test_recipe_bases_that_are_devices_directories_or_too_deep(tmp_path):
    from fusion.recipe import load_recipe

    (tmp_path / "dir.yaml").mkdir()
    for base, pattern in (("dir.yaml", "is a directory"), ("/dev/zero", "not a regular file")):
        (tmp_path / "r.yaml").write_text(f"base: {base}\n")
        with within(), pytest.raises(RecipeError, match=pattern):
            load_recipe(tmp_path / "r.yaml")
    for k in range(40):
        (tmp_path / f"b{k}.yaml").write_text(f"base: b{k + 1}.yaml\n")
    (tmp_path / "b40.yaml").write_text("name: x\n")
    with within(), pytest.raises(RecipeError, match=r"more than 32 'base:' files deep"):
        load_recipe(tmp_path / "b0.yaml")


def test_bad_override_values_are_one_sentence():
    from fusion.recipe import parse_override

    for text, pattern in (("a.b=" + "[" * 500 + "]" * 500, "nested more than 64"), ("a.b=&x [*x]", "refers to itself"),
                          ("a.b=" + "9" * 5000, "unusable YAML value")):
        with pytest.raises(RecipeError, match=pattern):
            parse_override(text)


def test_skip_counts_every_bad_sample_and_trains_on_the_rest(tmp_path, capsys):
    """data.on_error=skip: the five broken Kinetics videos are skipped and counted every epoch, never zeros."""
    _broken_kinetics(tmp_path)
    for name in ("g1", "g2"):  # a test split with good samples only
        write_json(tmp_path / "kinetics_val" / f"{name}.json", {"data": [kinetics_frame(0, [(0.4, 0.9)])]})
    write_json(tmp_path / "kinetics_val_label.json", {n: {"has_skeleton": True, "label_index": k}
                                                      for k, n in enumerate(("g1", "g2"))})
    recipe = {
        "plugins": ["toy_plugin"],
        "data": {"dataset": {"name": "kinetics_skeleton", "args": {"root": str(tmp_path), "max_frames": 8,
                                                                    "num_classes": 5}},
                 "modalities": ["skeleton"], "on_error": "skip", "val_split": "none"},
        "model": {"num_classes": 5, "encoders": {"skeleton": {"name": "toy_mlp", "args": {"joints": 18, "dim": 8}}}},
        "train": {"epochs": 2, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.01}},
    }
    code = run_recipe(tmp_path, recipe, ["train"], "--out", str(tmp_path / "run"), seconds=120)
    err = capsys.readouterr().err
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["skipped_per_epoch"] == [5, 5], summary
    assert "Traceback" not in err


def test_synthact_cache_files_of_another_size_or_a_pipe(tmp_path):
    from fusion_plugins.synthact.config import SynthActConfig
    from fusion_plugins.synthact.generate import load_arrays

    cfg = SynthActConfig(subjects=2, classes=2, frames=4, size=16, repetitions=1)  # 3 subjects (2 + 1 validation) x 3 cameras x 2 classes
    load_arrays(cfg, ("skeleton",), tmp_path)
    skeleton = next(tmp_path.glob("*/skeleton.npy"))
    np.save(skeleton, np.zeros((3, 1, 4, 25, 3), np.float32))
    with within(), pytest.raises(DataError, match=rf"{skeleton}.*holds 3 samples, expected 18"):
        load_arrays(cfg, ("skeleton",), tmp_path)
    skeleton.unlink()
    os.mkfifo(skeleton)
    with within(), pytest.raises(DataError, match=rf"{skeleton}.*named pipe"):
        load_arrays(cfg, ("skeleton",), tmp_path)


def test_budget_floor_applies_inside_its_block_only(monkeypatch):
    """``fusion predict`` reads one user video whole under a 1 GiB floor; training samples keep the budget."""
    from fusion.data.limits import budget_at_least, max_sample_bytes

    monkeypatch.setenv("FUSION_MAX_SAMPLE_MB", "1")
    assert max_sample_bytes() == 2**20
    with budget_at_least(2**30):
        assert max_sample_bytes() == 2**30
        with budget_at_least(2**10):  # an inner, smaller floor never lowers the budget
            assert max_sample_bytes() == 2**30
    assert max_sample_bytes() == 2**20
