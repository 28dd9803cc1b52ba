"""PySKL / MMAction2 pickles, st-gcn .npy + label pickle, CTR-GCN .npz, and the restricted unpickler."""

import os
import pickle

import numpy as np
import pytest
from format_writers import pyskl_annotations, write_pickle

from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.common import scan
from fusion_plugins.formats.pyskl import PoseAnnotations
from fusion_plugins.formats.safe_pickle import load_pickle
from fusion_plugins.formats.stgcn import CtrgcnNpz, StgcnArrays

NAMES = ["S001C001P001R001A001", "S001C002P003R001A002", "S002C003P002R002A003"]
SPLITS = {"xsub_train": [NAMES[0], NAMES[2]], "xsub_val": [NAMES[1]], "xview_train": NAMES[1:], "xview_val": NAMES[:1]}


def test_3d_pickle_splits_and_sample(tmp_path):
    path = write_pickle(tmp_path / "ntu60_3danno.pkl", {"split": SPLITS, "annotations": pyskl_annotations(NAMES)})
    train = PoseAnnotations("train", str(path), protocol="xsub", num_classes=60)
    assert [i.id for i in train.infos] == [NAMES[0], NAMES[2]] and train.num_classes == 60
    assert [i.id for i in PoseAnnotations("test", str(path), protocol="xview").infos] == [NAMES[0]]
    assert [i.id for i in PoseAnnotations("xsub_val", str(path)).infos] == [NAMES[1]]
    sample = train[1]
    assert sample["label"] == 2 and sample["skeleton"].shape == (1, 6, 25, 3) and sample["skeleton"].dtype == np.float32
    assert "pose2d" not in sample and sample["meta"]["layout"] == "ntu25"
    with pytest.raises(DataError, match="no split named xset_train; splits in the file: xsub_train, xsub_val"):
        PoseAnnotations("train", str(path), protocol="xset")
    with pytest.raises(RecipeError, match="set the dataset's protocol option"):
        PoseAnnotations("train", str(path))


def test_2d_pickle_appends_scores(tmp_path):
    annotations = pyskl_annotations(NAMES, two_d=True, persons=2)
    path = write_pickle(tmp_path / "ntu60_hrnet.pkl", {"split": SPLITS, "annotations": annotations}, protocol=2)
    sample = PoseAnnotations("all", str(path))[0]
    assert sample["pose2d"].shape == (2, 6, 17, 3) and sample["meta"]["layout"] == "coco17"
    np.testing.assert_allclose(sample["pose2d"][..., 2], annotations[0]["keypoint_score"].astype(np.float32))
    assert sample["skeleton"] is sample["pose2d"] and sample["meta"]["img_shape"] == (1080, 1920)


def test_missing_keys_and_label_range_are_listed(tmp_path):
    annotations = pyskl_annotations(NAMES, two_d=True)
    del annotations[0]["keypoint_score"]
    del annotations[1]["label"]
    annotations[2]["label"] = 70
    path = write_pickle(tmp_path / "bad.pkl", {"split": SPLITS, "annotations": annotations})
    with pytest.raises(DataError) as info:
        PoseAnnotations("all", str(path), num_classes=60)
    message = str(info.value)
    assert message.startswith(f"{path}: 3 problem(s): ")
    assert f"annotation 0 ('{NAMES[0]}'): 2D 'keypoint' needs a 'keypoint_score' (M, T, V) key" in message
    assert f"annotation 1 ('{NAMES[1]}') has no 'label' key" in message
    assert f"annotation 2 ('{NAMES[2]}') has label 70, expected 0..59" in message
    write_pickle(tmp_path / "nokeys.pkl", {"split": SPLITS})
    with pytest.raises(DataError, match="expected a dict with an 'annotations' list"):
        PoseAnnotations("all", str(tmp_path / "nokeys.pkl"))
    short = pyskl_annotations(NAMES)
    short[1]["total_frames"] = 9
    write_pickle(tmp_path / "frames.pkl", {"split": SPLITS, "annotations": short})
    with pytest.raises(DataError, match="'total_frames' is 9 but 'keypoint' has 6 frames"):
        PoseAnnotations("all", str(tmp_path / "frames.pkl"))


def test_nan_keypoints_found_on_read_and_by_scan(tmp_path):
    annotations = pyskl_annotations(NAMES)
    annotations[1]["keypoint"][0, 2, 4, 0] = np.nan
    path = write_pickle(tmp_path / "nan.pkl", {"split": SPLITS, "annotations": annotations})
    dataset = PoseAnnotations("all", str(path))
    with pytest.raises(DataError, match=rf"nan.pkl \[{NAMES[1]}\]: keypoint has 1 NaN/inf value\(s\), first at index \(0, 2, 4, 0\)"):
        dataset[1]
    assert [sample_id for sample_id, _ in scan(dataset)] == [NAMES[1]]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("payload, refused", [(_Exploit(), "system"), (_Eval(), "builtins.eval")])
def test_restricted_unpickler_refuses_crafted_pickles(tmp_path, monkeypatch, payload, refused):
    monkeypatch.chdir(tmp_path)
    path = write_pickle(tmp_path / "evil.pkl", {"split": {}, "annotations": [payload]})
    with pytest.raises(DataError, match=f"evil.pkl: refusing to load global .*{refused}"):
        load_pickle(path)
    with pytest.raises(DataError, match="refusing to load global"):
        PoseAnnotations("all", str(path))
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({"a": 1})[:-3])
    with pytest.raises(DataError, match="cut.pkl: not a readable pickle"):
        load_pickle(tmp_path / "cut.pkl")


def test_stgcn_npy_and_label_pickle(tmp_path):
    data = np.random.default_rng(0).normal(size=(3, 3, 20, 25, 2)).astype(np.float32)
    for part in ("train", "val"):
        np.save(tmp_path / f"{part}_data.npy", data)
        write_pickle(tmp_path / f"{part}_label.pkl", ([f"{n}.skeleton" for n in NAMES], [0, 1, 2]))
    dataset = StgcnArrays("test", str(tmp_path / "{split}_data.npy"), str(tmp_path / "{split}_label.pkl"))
    assert len(dataset) == 3 and dataset.num_classes == 3 and dataset.infos[1].id == NAMES[1]
    sample = dataset[2]
    assert sample["skeleton"].shape == (2, 20, 25, 3) and sample["label"] == 2
    np.testing.assert_array_equal(sample["skeleton"], data[2].transpose(3, 1, 2, 0))
    copy = pickle.loads(pickle.dumps(dataset))  # as DataLoader workers get it: the memmap is reopened
    assert copy.__dict__["_data"] is None and np.array_equal(copy[2]["skeleton"], sample["skeleton"])
    write_pickle(tmp_path / "train_label.pkl", (NAMES, [0, 1]))
    with pytest.raises(DataError, match="3 names and 2 labels for 3 samples"):
        StgcnArrays("train", str(tmp_path / "{split}_data.npy"), str(tmp_path / "{split}_label.pkl"))
    np.save(tmp_path / "train_data.npy", data[:, :, :, :, 0])
    with pytest.raises(DataError, match=r"expected an array \(N, C=2\|3, T, V, M\), got shape \(3, 3, 20, 25\)"):
        StgcnArrays("train", str(tmp_path / "{split}_data.npy"), str(tmp_path / "{split}_label.pkl"))


def test_ctrgcn_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 10, 150)).astype(np.float32)
    y = np.eye(5)[[0, 3, 1, 4]]
    np.savez(tmp_path / "NTU60_CS.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    dataset = CtrgcnNpz("train", str(tmp_path / "NTU60_CS.npz"))
    assert dataset.num_classes == 5 and dataset.labels.tolist() == [0, 3, 1, 4]
    sample = dataset[1]
    assert sample["skeleton"].shape == (2, 10, 25, 3)
    np.testing.assert_array_equal(sample["skeleton"][1, 4, 7], x[1, 4].reshape(2, 25, 3)[1, 7])
    with pytest.raises(DataError, match=r"x_train should be \(N, T, 2\*20\*3 = 120\), got \(4, 10, 150\)"):
        CtrgcnNpz("train", str(tmp_path / "NTU60_CS.npz"), num_joints=20)
