"""Every registered dataset yields the sample contract: ``{modality: ndarray in its raw layout, "label": int in
[0, num_classes), "meta": {"id": str, ...}}``, exposes ``num_classes`` and ``class_names``, and is
deterministic (the same index gives the same sample).

Datasets are built from tiny inputs: SynthAct at small sizes, the wrappers over it, and files written by
the format writers of tests/formats. A dataset needs an entry in :data:`BLOCKS` to be checked; the test
that every registered dataset has one makes a new dataset add its entry.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from fusion.construct import context, create_dataset
from fusion.registry import get_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
from format_writers import pyskl_annotations, write_pickle  # noqa: E402  (tests/formats' file writers)

REGISTRY = get_registry()
SYNTH = {"name": "synthact", "args": {"modalities": ["skeleton", "pose2d"], "frames": 8, "subjects": 4, "classes": 4,
                                      "repetitions": 1}}
NAMES = ["S001C001P001R001A001", "S001C002P003R001A002", "S002C003P002R002A003"]


def pickle_file(tmp_path) -> str:
    splits = {"xsub_train": NAMES, "xsub_val": NAMES[:1]}
    return str(write_pickle(tmp_path / "anno.pkl", {"split": splits, "annotations": pyskl_annotations(NAMES)}))


#: name -> (block builder from tmp_path, split); None: not checked here, and why.
BLOCKS = {
    "synthact": (lambda tmp: SYNTH, "train"),
    "repeat": (lambda tmp: {"name": "repeat", "args": {"dataset": SYNTH, "times": 2}}, "train"),
    "labelled_subset": (lambda tmp: {"name": "labelled_subset", "args": {"dataset": SYNTH, "fraction": 0.5}}, "train"),
    "long_tailed": (lambda tmp: {"name": "long_tailed", "args": {"dataset": SYNTH, "rho": 2}}, "train"),
    "pose_pickle": (lambda tmp: {"name": "pose_pickle", "args": {"path": pickle_file(tmp), "protocol": "xsub",
                                                         "num_classes": 60}},
                    "train"),
    # read real dataset trees (.skeleton files, videos, depth folders, JSON); their readers and samples are
    # tested against files written in tests/formats
    "ntu": None, "pku_mmd": None, "nw_ucla": None, "kinetics_skeleton": None, "keypoint_folder": None,
    "ctrgcn_npz": None, "stgcn_npy": None, "packed": None,
}


def test_every_registered_dataset_is_listed():
    assert set(REGISTRY.names("dataset")) <= set(BLOCKS), "add the new dataset to BLOCKS"


def check_sample(name, dataset, sample, declared):
    modalities = {s.name: s for s in REGISTRY.all_specs("modality")}
    assert isinstance(sample, dict) and {"label", "meta"} <= set(sample), f"{name}: sample keys {sorted(sample)}"
    assert isinstance(sample["label"], (int, np.integer)) and 0 <= int(sample["label"]) < dataset.num_classes
    assert isinstance(sample["meta"], dict) and isinstance(sample["meta"].get("id"), str)
    present = [k for k in sample if k in modalities]
    assert present and (not declared or set(present) <= set(declared)), f"{name}: modalities {present}, declared {declared}"
    for key in present:
        array, axis = sample[key], modalities[key].time_axis
        assert isinstance(array, np.ndarray), f"{name}: sample[{key!r}] is a {type(array).__name__}"
        assert axis is None or array.ndim > axis and array.shape[axis] > 0


@pytest.mark.parametrize("name", sorted(n for n, b in BLOCKS.items() if b is not None))
def test_dataset_sample_contract(name, tmp_path):
    make, split = BLOCKS[name]
    dataset = create_dataset(make(tmp_path), context(REGISTRY, f"dataset {name}"), split)
    assert len(dataset) > 0
    assert int(dataset.num_classes) > 0 and len(dataset.class_names) == dataset.num_classes
    declared = REGISTRY.get("dataset", name).modalities
    for index in (0, len(dataset) - 1):
        sample = dataset[index]
        check_sample(name, dataset, sample, declared)
        again = dataset[index]
        assert all(np.array_equal(sample[k], again[k]) for k in sample if isinstance(sample[k], np.ndarray))
