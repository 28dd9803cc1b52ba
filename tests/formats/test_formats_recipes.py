"""The data blocks under recipes/*/_data_*.yaml: valid names and arguments, and one built end to end."""

from pathlib import Path

import pytest
from format_writers import one_body_frames, write_skeleton

from fusion.recipe import _resolve_bases, check_args, deep_merge, from_dict
from fusion.registry import get_registry
from fusion.train.build import build_dataset

ROOT = Path(__file__).resolve().parents[2]
DATA_BLOCKS = sorted(p for d in ("ntu60", "ntu120", "pku_mmd", "nw_ucla") for p in (ROOT / "recipes" / d).glob("_data_*.yaml"))
ENCODER = {"model": {"encoders": {"skeleton": {"name": "stgcn"}}}}


@pytest.mark.parametrize("path", DATA_BLOCKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_data_block_names_and_arguments(path):
    registry = get_registry()
    recipe = from_dict(deep_merge(ENCODER, _resolve_bases(path)), registry)
    block = recipe["data"]["dataset"]
    check_args(f"{path.name}: data.dataset.args", registry.get("dataset", block["name"]).factory, block["args"])
    for phase, blocks in recipe["data"]["transforms"].items():
        for k, transform in enumerate(blocks):
            factory = registry.get("transform", transform["name"]).factory
            check_args(f"{path.name}: data.transforms.{phase}[{k}]", factory, transform.get("args") or {})
            factory(**(transform.get("args") or {}))


def test_ntu60_skeleton_block_builds_a_transformed_sample(tmp_path):
    for k, name in enumerate(["S001C001P001R001A001", "S001C001P003R001A004"]):
        write_skeleton(tmp_path / f"{name}.skeleton", one_body_frames(80, seed=k))
    raw = deep_merge(ENCODER, _resolve_bases(ROOT / "recipes" / "ntu60" / "_data_skeleton_xsub.yaml"))
    raw["data"]["dataset"]["args"]["skeleton_dir"] = str(tmp_path)
    recipe = from_dict(raw, get_registry())
    train, test = build_dataset(recipe, get_registry(), "train"), build_dataset(recipe, get_registry(), "test")
    assert len(train) == 1 and len(test) == 1
    sample = test[0]
    assert sample["skeleton"].shape == (2, 64, 25, 3) and sample["label"] == 3
