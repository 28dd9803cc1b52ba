"""Readers of NTU RGB+D and PKU-MMD name their classes (the tables in plugins/formats/class_names.py)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "formats"))
from format_writers import one_body_frames, write_skeleton  # noqa: E402

from fusion_plugins.formats.class_names import NTU120, PKU_MMD51, ntu_names, pku_mmd_names  # noqa: E402


def test_tables():
    assert len(NTU120) == 120 and len(set(NTU120)) == 120 and len(PKU_MMD51) == 51 == len(set(PKU_MMD51))
    assert NTU120[0] == "drink water" and NTU120[59] == "walking apart from each other" and NTU120[119].startswith("finger")
    assert ntu_names(60) == list(NTU120[:60]) and ntu_names(12) is None and pku_mmd_names(51)[0] == "bow"


def test_ntu_readers_give_names(tmp_path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd
    from fusion_plugins.formats.pyskl import PoseAnnotations

    write_skeleton(tmp_path / "S001C001P001R001A023.skeleton", one_body_frames(10))
    dataset = NtuRgbd("all", skeleton_dir=str(tmp_path), benchmark="ntu60", missing="none")
    assert len(dataset.class_names) == 60 and dataset.class_names[dataset.labels[0]] == "hand waving"
    entry = {"frame_dir": "S001C001P001R001A001", "label": 0, "keypoint": np.zeros((1, 4, 25, 3), np.float32)}
    path = tmp_path / "ntu120_3danno.pkl"
    path.write_bytes(pickle.dumps({"annotations": [entry]}, protocol=4))
    assert PoseAnnotations("all", path=str(path), num_classes=120).class_names[-1] == NTU120[-1]
