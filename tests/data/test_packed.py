"""Packed skeleton datasets (``fusion data pack`` + the ``packed`` dataset): samples identical to the reader's
(float32 bit-exact, float16 within its precision), zero-copy views, worker loading, and damaged packs as DataErrors
naming the file. The source is a PySKL pickle written here with float32 keypoints of varying lengths."""

import json
import pickle

import numpy as np
import pytest
from torch.utils.data import DataLoader

from fusion.cli import main
from fusion.errors import DataError
from fusion_plugins.formats.packed import PackedSkeletons
from fusion_plugins.formats.pyskl import PoseAnnotations

NAMES = [f"S001C001P00{p}R001A00{a}" for p in (1, 2, 3) for a in (1, 2, 3, 4)]


@pytest.fixture
def pickle_recipe(tmp_path):
    rng = np.random.default_rng(0)
    annotations = [{"frame_dir": name, "label": k % 4, "total_frames": 5 + k,
                    "keypoint": rng.normal(0, 1, (2, 5 + k, 25, 3)).astype(np.float32)}
                   for k, name in enumerate(NAMES)]
    split = {"xsub_train": NAMES[:8], "xsub_val": NAMES[8:]}
    (tmp_path / "poses.pkl").write_bytes(pickle.dumps({"split": split, "annotations": annotations}))
    recipe = {"data": {"modalities": ["skeleton"], "dataset": {"name": "pose_pickle", "args": {
        "path": str(tmp_path / "poses.pkl"), "protocol": "xsub", "num_classes": 4}}}}
    (tmp_path / "data.yaml").write_text(json.dumps(recipe))
    return tmp_path


def pack(root, *extra):
    assert main(["data", "pack", str(root / "data.yaml"), "--out", str(root / "pack"), *extra]) == 0


def test_packed_samples_equal_the_readers(pickle_recipe, capsys):
    pack(pickle_recipe)
    assert "train: packed 8 samples (skeleton as float32" in capsys.readouterr().out
    for split, size in (("train", 8), ("test", 4)):
        source = PoseAnnotations(split, str(pickle_recipe / "poses.pkl"), "xsub", 4)
        packed = PackedSkeletons(split, str(pickle_recipe / "pack"))
        assert len(packed) == size and packed.num_classes == 4 and packed.labels.tolist() == source.labels.tolist()
        for index in range(size):
            a, b = source[index], packed[index]
            assert b["skeleton"].dtype == np.float32 and np.array_equal(a["skeleton"], b["skeleton"])  # bit-exact
            assert a["label"] == b["label"] and a["meta"] == b["meta"] and packed.sample_id(index) == a["meta"]["id"]
            assert not b["skeleton"].flags.owndata and not b["skeleton"].flags.writeable  # a view of the mapping


def test_float16_pack_and_worker_loading(pickle_recipe):
    pack(pickle_recipe, "--dtype", "float16", "--split", "train")
    source = PoseAnnotations("train", str(pickle_recipe / "poses.pkl"), "xsub", 4)
    packed = PackedSkeletons("train", str(pickle_recipe / "pack"))
    assert packed[3]["skeleton"].dtype == np.float32
    np.testing.assert_allclose(packed[3]["skeleton"], source[3]["skeleton"], rtol=1e-3, atol=1e-3)
    assert PackedSkeletons("train", str(pickle_recipe / "pack"), as_float32=False)[3]["skeleton"].dtype == np.float16
    loader = DataLoader(packed, batch_size=None, num_workers=2)  # workers map the file themselves
    assert [s["label"] for s in loader] == packed.labels.tolist()
    with pytest.raises(DataError, match="no packed split 'test' here \\(packed splits: train\\)"):
        PackedSkeletons("test", str(pickle_recipe / "pack"))


def test_damaged_packs_name_the_file(pickle_recipe):
    pack(pickle_recipe, "--split", "train")
    folder = pickle_recipe / "pack" / "train"
    data = bytearray((folder / "skeleton.bin").read_bytes())
    data[5000] ^= 0xFF  # one flipped byte in sample 1 (bytes 3000..6599: sample 0 is 2 x 5 x 25 x 3 float32)
    (folder / "skeleton.bin").write_bytes(bytes(data))
    packed = PackedSkeletons("train", str(pickle_recipe / "pack"))
    with pytest.raises(DataError, match=rf"skeleton.bin: sample {NAMES[1]} fails its CRC check"):
        packed[1]
    problems = packed.check()
    assert problems[0][0] == "skeleton.bin" and "SHA-256 differs" in problems[0][1]
    assert [p[0] for p in problems[1:]] == [NAMES[1]]
    (folder / "skeleton.bin").write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(DataError, match=r"train/skeleton.bin: \d+ bytes, expected \d+ bytes .* truncated or damaged"):
        PackedSkeletons("train", str(pickle_recipe / "pack"))
    (folder / "index.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="index.npz: cannot read the pack index"):
        PackedSkeletons("train", str(pickle_recipe / "pack"))
    (folder / "pack.json").write_text("{")
    with pytest.raises(DataError, match="pack.json: not valid JSON"):
        PackedSkeletons("train", str(pickle_recipe / "pack"))


def test_packed_dataset_holds_no_object_per_sample_and_pickles_small(pickle_recipe):
    """Workers share the parent's pages: the dataset keeps numpy arrays and lazily mapped files, no per-sample
    Python objects (touching one in a forked worker copies its page) and no mapping in its pickle (spawn)."""
    pack(pickle_recipe, "--split", "train")
    packed = PackedSkeletons("train", str(pickle_recipe / "pack"))
    assert not packed._maps  # nothing mapped until a sample is read
    first = packed[0]
    assert set(packed._maps) == {"skeleton", "meta.jsonl"}
    state = pickle.dumps(packed)
    assert b"SampleInfo" not in state and b"memmap" not in state and len(state) < 8000
    again = pickle.loads(state)
    assert not again._maps and len(again) == 8
    for index in (0, 7, -1):
        assert again.info(index).id == NAMES[:8][index] and again.info(index).extra["position"] == index % 8
    assert [i.id for i in again.infos[1:3]] == NAMES[1:3] and again.labels.tolist() == packed.labels.tolist()
    assert np.array_equal(again[0]["skeleton"], first["skeleton"]) and again[0]["meta"] == first["meta"]
    with pytest.raises(IndexError):
        again.infos[8]
