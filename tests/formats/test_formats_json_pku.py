"""Kinetics-skeleton JSON, NW-UCLA JSON and PKU-MMD sequences cut by label intervals."""

import numpy as np
import pytest
from format_writers import kinetics_frame, pku_sequence_text, write_json

from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.kinetics import KineticsSkeleton
from fusion_plugins.formats.nwucla import NwUcla
from fusion_plugins.formats.pkummd import PkuMmd


def test_kinetics_persons_sorted_by_score_and_centred(tmp_path):
    frames = [kinetics_frame(0, [(0.1, 0.2), (0.7, 0.9), (0.3, 0.5)]), kinetics_frame(2, [(0.6, 0.8)])]
    write_json(tmp_path / "kinetics_val" / "vid_a.json", {"data": frames, "label": "x", "label_index": 3})
    write_json(tmp_path / "kinetics_val" / "vid_b.json", {"data": [], "label": "y", "label_index": 1})
    write_json(tmp_path / "kinetics_val_label.json", {
        "vid_a": {"has_skeleton": True, "label": "x", "label_index": 3},
        "vid_b": {"has_skeleton": False, "label": "y", "label_index": 1}})
    dataset = KineticsSkeleton("test", str(tmp_path), max_frames=4)
    assert [i.id for i in dataset.infos] == ["vid_a"] and dataset.num_classes == 400
    sample = dataset[0]
    pose, skeleton = sample["pose2d"], sample["skeleton"]
    assert pose.shape == (2, 4, 18, 3) and sample["label"] == 3 and sample["meta"]["layout"] == "openpose18"
    np.testing.assert_allclose(pose[:, 0, 0], [[0.7, 0.4, 0.9], [0.3, 0.4, 0.5]], rtol=1e-6)  # top 2 by score
    np.testing.assert_allclose(skeleton[0, 0, 0], [0.2, -0.1, 0.9], rtol=1e-6)  # x - 0.5, y - 0.5, score
    assert not skeleton[:, 1].any() and not skeleton[1, 2].any()  # frame 1 empty; one person in frame 2
    bad = kinetics_frame(0, [(0.1, 0.2)])
    bad["skeleton"][0]["pose"] = bad["skeleton"][0]["pose"][:34]
    write_json(tmp_path / "kinetics_val" / "vid_a.json", {"data": [bad]})
    with pytest.raises(DataError, match="vid_a.json: frame_index 0, person 0: expected 36 pose values and 18 scores"):
        dataset[0]
    (tmp_path / "kinetics_val" / "vid_a.json").write_text('{"data": [')
    with pytest.raises(DataError, match="vid_a.json: malformed JSON at line 1"):
        dataset[0]


def test_nwucla_labels_views_and_bad_files(tmp_path):
    joints = np.random.default_rng(0).normal(size=(7, 20, 3)).tolist()
    for name in ("a01_s01_e00_v01", "a08_s02_e01_v02", "a12_s03_e02_v03", "a07_s01_e00_v01"):
        write_json(tmp_path / f"{name}.json", {"file_name": name, "skeletons": joints})
    train, test = NwUcla("train", str(tmp_path)), NwUcla("test", str(tmp_path))
    assert [(i.id, i.label) for i in train.infos] == [("a01_s01_e00_v01", 0), ("a08_s02_e01_v02", 6)]
    assert [(i.id, i.label) for i in test.infos] == [("a12_s03_e02_v03", 9)] and test.num_classes == 10
    sample = test[0]
    assert sample["skeleton"].shape == (1, 7, 20, 3) and sample["meta"]["view"] == 3
    write_json(tmp_path / "a12_s03_e02_v03.json", {"skeletons": np.zeros((7, 25, 3)).tolist()})
    with pytest.raises(DataError, match=r"a12_s03_e02_v03.json: 'skeletons' should be \(T, 20, 3\).*\(7, 25, 3\)"):
        test[0]
    write_json(tmp_path / "a12_s03_e02_v03.json", {"skeletons": [[[1.0, float("nan"), 2.0]] + [[0.0] * 3] * 19]})
    with pytest.raises(DataError, match=r"a12_s03_e02_v03.json: skeletons has 1 NaN/inf value\(s\), first at index \(0, 0, 1\)"):
        test[0]


@pytest.fixture
def pku_root(tmp_path):
    for sequence in ("0002-L", "0002-M", "0003-R"):
        (tmp_path / "skeleton").mkdir(exist_ok=True)
        (tmp_path / "label").mkdir(exist_ok=True)
        (tmp_path / "skeleton" / f"{sequence}.txt").write_text(pku_sequence_text(30))
        (tmp_path / "label" / f"{sequence}.txt").write_text("5,2,10,1\n51,12,20,2\n")
    return tmp_path


def test_pku_clips_cut_by_label_intervals(pku_root):
    args = {"skeleton_dir": str(pku_root / "skeleton"), "label_dir": str(pku_root / "label")}
    train, test = PkuMmd("train", **args), PkuMmd("test", **args)
    assert [i.id for i in train.infos] == ["0002-M_000", "0002-M_001", "0003-R_000", "0003-R_001"]
    assert [i.id for i in test.infos] == ["0002-L_000", "0002-L_001"]
    clip = test[0]
    assert clip["label"] == 4 and clip["skeleton"].shape == (2, 8, 25, 3)
    np.testing.assert_allclose(clip["skeleton"][0, :, 3, 0], np.arange(2, 10) + 0.03, rtol=1e-6)
    assert not clip["skeleton"][1].any()
    assert PkuMmd("test", end_inclusive=True, **args)[1]["skeleton"].shape[1] == 9
    split_file = pku_root / "cross-subject.txt"
    split_file.write_text("Training videos: \n0002-L, 0002-M\nValidataion videos: \n0003-R\n")
    xsub = PkuMmd("test", protocol="xsub", split_file=str(split_file), **args)
    assert [i.id for i in xsub.infos] == ["0003-R_000", "0003-R_001"]
    with pytest.raises(RecipeError, match="cross-subject needs"):
        PkuMmd("train", protocol="xsub", **args)


def test_pku_bad_files(pku_root):
    args = {"skeleton_dir": str(pku_root / "skeleton"), "label_dir": str(pku_root / "label")}
    lines = pku_sequence_text(30).splitlines()
    lines[4] = " ".join(lines[4].split()[:75])
    (pku_root / "skeleton" / "0002-L.txt").write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"0002-L.txt, line 5: expected 150 values .* got 75"):
        PkuMmd("test", **args)[0]
    (pku_root / "label" / "0003-R.txt").write_text("5,2,10,1\n5;x\n")
    with pytest.raises(DataError, match="0003-R.txt, line 2: expected 'action_id,start_frame,end_frame,confidence'"):
        PkuMmd("train", **args)
    (pku_root / "label" / "0003-R.txt").write_text("52,2,10,1\n")
    with pytest.raises(DataError, match="0003-R.txt, instance 1: action_id 52 outside 1..51"):
        PkuMmd("train", **args)
