"""Fuzz targets: for each reader, the valid seed files it reads and how it is driven.

A target writes its seed files into a fresh folder (the shapes of the real releases, written by
``tests/formats/format_writers.py``), names the files to mutate with their mutation family
(text, binary, PNG, JSON tree, pickle tree) and reads the whole folder back as training would:
the dataset built for every split, every sample loaded. ``read`` returns the samples and the class
count so that the harness can check a sample it accepted is a correct one.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
from format_writers import (  # noqa: E402
    blob_depth,
    kinetics_frame,
    one_body_frames,
    pku_sequence_text,
    pyskl_annotations,
    skeleton_text,
    standing_body,
    write_depth_folder,
    write_json,
    write_pickle,
)

NTU_NAME = "S001C001P001R001A003"


@dataclass
class Target:
    """``write(root)`` writes the seed and returns ``{file: family}``; ``read(root)`` -> (samples, classes)."""

    name: str
    write: Callable[[Path], dict[Path, str]]
    read: Callable[[Path], tuple[list[dict], int]]


def _all(dataset) -> tuple[list[dict], int]:
    return [dataset[i] for i in range(len(dataset))], dataset.num_classes


# ------------------------------------------------------------------------------------------------ NTU


def write_ntu_skeleton(root: Path) -> dict[Path, str]:
    frames = one_body_frames(5)
    second = standing_body(5, 0.2, x=1.0, seed=3)
    frames = [bodies + ([(72057594037931102, second[t])] if t % 2 else []) for t, bodies in enumerate(frames)]
    path = root / "skeletons" / f"{NTU_NAME}.skeleton"
    path.parent.mkdir(parents=True)
    path.write_text(skeleton_text(frames))
    return {path: "text"}


def read_ntu_skeleton(root: Path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    return _all(NtuRgbd("all", benchmark=None, skeleton_dir=str(root / "skeletons"), missing="none",
                        modalities=["skeleton", "pose2d"], num_classes=60))


def write_ntu_depth(root: Path) -> dict[Path, str]:
    folder = write_depth_folder(root / "depth" / NTU_NAME, blob_depth(3, 12, 16))
    return {folder / "MDepth-00000002.png": "png"}


def read_ntu_depth(root: Path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    return _all(NtuRgbd("all", benchmark=None, depth_dir=str(root / "depth"), missing="none", num_classes=60,
                        modalities=["depth", "pointcloud"], depth_size=[16, 12], points=32))


# ------------------------------------------------------------------------------------------------ pickles


def write_pyskl(root: Path) -> dict[Path, str]:
    names = ["S001C001P001R001A001", "S001C001P003R001A002"]
    annotations = pyskl_annotations(names, frames=4) + pyskl_annotations(["S001C001P002R001A003"], two_d=True,
                                                                          frames=4)
    path = write_pickle(root / "anno.pkl", {"split": {"xsub_train": names[:1], "xsub_val": names[1:]},
                                            "annotations": annotations})
    return {path: "pickle"}


def read_pyskl(root: Path):
    from fusion_plugins.formats.pyskl import PoseAnnotations

    samples, classes = [], 0
    for split in ("all", "train", "test"):
        got, classes = _all(PoseAnnotations(split, str(root / "anno.pkl"), protocol="xsub", num_classes=60))
        samples += got
    return samples, classes


def write_stgcn(root: Path) -> dict[Path, str]:
    data = np.random.default_rng(0).normal(size=(3, 3, 6, 25, 2)).astype(np.float32)
    np.save(root / "train_data.npy", data)
    label = write_pickle(root / "train_label.pkl", (["S001C001P001R001A001.skeleton", "b.skeleton", "c.skeleton"],
                                                     [0, 4, 2]))
    return {root / "train_data.npy": "binary", label: "pickle"}


def read_stgcn(root: Path):
    from fusion_plugins.formats.stgcn import StgcnArrays

    return _all(StgcnArrays("train", str(root / "{split}_data.npy"), str(root / "{split}_label.pkl")))


def write_ctrgcn(root: Path) -> dict[Path, str]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5, 150)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]
    np.savez(root / "NTU60_CS.npz", x_train=x, y_train=y, x_test=x[:2], y_test=np.array([1, 2]))
    return {root / "NTU60_CS.npz": "npz"}


def read_ctrgcn(root: Path):
    from fusion_plugins.formats.stgcn import CtrgcnNpz

    samples, classes = _all(CtrgcnNpz("train", str(root / "NTU60_CS.npz")))
    more, _ = _all(CtrgcnNpz("test", str(root / "NTU60_CS.npz")))
    return samples + more, classes


# ------------------------------------------------------------------------------------------------ JSON


def write_kinetics(root: Path) -> dict[Path, str]:
    video = {"data": [kinetics_frame(t, [(0.3, 0.9), (0.6, 0.4)]) for t in range(4)], "label": "a", "label_index": 2}
    clip = write_json(root / "kinetics_train" / "vid_a.json", video)
    write_json(root / "kinetics_train" / "vid_b.json", {"data": [kinetics_frame(0, [(0.5, 0.8)])]})
    labels = write_json(root / "kinetics_train_label.json", {
        "vid_a": {"has_skeleton": True, "label": "a", "label_index": 2},
        "vid_b": {"has_skeleton": True, "label": "b", "label_index": 0},
        "vid_c": {"has_skeleton": False, "label": "c", "label_index": 1}})
    return {clip: "json", labels: "json"}


def read_kinetics(root: Path):
    from fusion_plugins.formats.kinetics import KineticsSkeleton

    return _all(KineticsSkeleton("train", str(root), max_frames=8, num_classes=5))


def write_nwucla(root: Path) -> dict[Path, str]:
    joints = np.random.default_rng(2).normal(size=(4, 20, 3)).round(4)
    path = write_json(root / "a01_s01_e01_v01.json", {"skeletons": joints.tolist()})
    write_json(root / "a12_s02_e01_v03.json", {"skeletons": joints[:2].tolist()})
    return {path: "json"}


def read_nwucla(root: Path):
    from fusion_plugins.formats.nwucla import NwUcla

    return _all(NwUcla("all", str(root)))


# ------------------------------------------------------------------------------------------------ PKU-MMD


def write_pkummd(root: Path) -> dict[Path, str]:
    (root / "skeleton").mkdir()
    (root / "label").mkdir()
    sequence = root / "skeleton" / "0002-M.txt"
    sequence.write_text(pku_sequence_text(12))
    labels = root / "label" / "0002-M.txt"
    labels.write_text("3,0,5,1\n7,6,12,2\n")
    split = root / "cross-view.txt"
    split.write_text("Training videos: 0002-M, 0003-M\nValidation videos: 0002-L\n")
    return {sequence: "text", labels: "text", split: "text"}


def read_pkummd(root: Path):
    from fusion_plugins.formats.pkummd import PkuMmd, read_sequence

    read_sequence.cache_clear()  # sequences are cached by path: a mutated file must be read again
    return _all(PkuMmd("train", str(root / "skeleton"), str(root / "label"), split_file=str(root / "cross-view.txt"),
                       num_classes=51))


# ------------------------------------------------------------------------------------------------ keypoint folder


def write_keypoint_folder(root: Path) -> dict[Path, str]:
    rng = np.random.default_rng(3)
    np.save(root / "c1.npy", rng.normal(size=(4, 17, 2)).astype(np.float32))
    np.savez(root / "c2.npz", keypoints=rng.normal(size=(1, 4, 17, 3)).astype(np.float32))
    write_json(root / "c3.json", {"keypoints": rng.normal(size=(4, 17, 2)).round(3).tolist()})
    rows = [f"{t},{j},{rng.normal():.3f},{rng.normal():.3f}" for t in range(3) for j in range(17)]
    (root / "c4.csv").write_text("frame,joint,x,y\n" + "\n".join(rows) + "\n")
    (root / "labels.csv").write_text("sample,label,split\nc1.npy,walk,train\nc2.npz,run,train\nc3.json,walk,train\n"
                                     "c4.csv,run,train\n")
    return {root / "c1.npy": "binary", root / "c2.npz": "npz", root / "c3.json": "json", root / "c4.csv": "text",
            root / "labels.csv": "text"}


def read_keypoint_folder(root: Path):
    from fusion_plugins.formats.keypoints import KeypointFolder

    return _all(KeypointFolder(str(root), "coco17", "train", num_frames=None))


# ------------------------------------------------------------------------------------------------ recipes


def write_recipe(root: Path) -> dict[Path, str]:
    recipe = {
        "name": "fuzz", "plugins": ["toy_plugin"],
        "data": {"dataset": {"name": "toy", "args": {"size": 8}}, "modalities": ["skeleton"], "num_workers": 0},
        "model": {"num_classes": 4, "encoders": {"skeleton": {"name": "toy_mlp", "args": {"dim": 8}}}},
        "train": {"epochs": 2, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
                  "schedule": {"name": "step", "milestones": [1]}},
        "eval": {"batch_size": 8},
    }  # fmt: skip
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return {path: "text"}


def read_recipe(root: Path):
    from fusion.recipe import load_recipe

    recipe = load_recipe(root / "recipe.yaml")
    return [], int(recipe["model"]["num_classes"] or 1)


TARGETS = {t.name: t for t in (
    Target("ntu_skeleton", write_ntu_skeleton, read_ntu_skeleton),
    Target("ntu_depth_png", write_ntu_depth, read_ntu_depth),
    Target("pyskl_pickle", write_pyskl, read_pyskl),
    Target("stgcn_npy", write_stgcn, read_stgcn),
    Target("ctrgcn_npz", write_ctrgcn, read_ctrgcn),
    Target("kinetics_json", write_kinetics, read_kinetics),
    Target("nwucla_json", write_nwucla, read_nwucla),
    Target("pku_mmd_text", write_pkummd, read_pkummd),
    Target("keypoint_folder", write_keypoint_folder, read_keypoint_folder),
    Target("recipe_yaml", write_recipe, read_recipe),
)}


def tree_of(path: Path, family: str):
    """The parsed value a tree mutation works on (JSON or a plain pickle)."""
    return json.loads(path.read_text()) if family == "json" else pickle.loads(path.read_bytes())
