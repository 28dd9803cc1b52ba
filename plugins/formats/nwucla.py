"""NW-UCLA Multiview Action 3D, in the JSON form CTR-GCN and its successors use.

Files ``root/<name>.json`` with ``"skeletons"``: a nested list (T, 20, 3) of Kinect v1 joints;
names ``aAA_sSS_eEE_vVV`` (action, subject, episode, view). Ten actions are used, a01-a06, a08,
a09, a11, a12, labelled 0-9 in that order (a07 and a10 are not part of the benchmark and are
skipped). The split is by view: views 1 and 2 train, view 3 tests.
Samples: ``skeleton`` (1, T, 20, 3) float32.
"""

from __future__ import annotations

import re
from pathlib import Path

from fusion.errors import DataError
from fusion_plugins.formats.common import (
    FormatDataset,
    SampleInfo,
    check_choice,
    check_finite,
    numeric_array,
    read_json,
    require_dir,
)

UCLA_JOINTS = 20
ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
LABEL_OF_ACTION = {a: k for k, a in enumerate(ACTIONS)}
TRAIN_VIEWS = frozenset({1, 2})
UCLA_NAME = re.compile(r"^a(\d+)_s(\d+)_e(\d+)_v(\d+)$")
SPLITS = ("train", "test", "val", "all")


class NwUcla(FormatDataset):
    """NW-UCLA JSON skeletons; ``split``: train (views 1, 2), test/val (view 3) or all."""

    provides = ("skeleton",)

    def __init__(self, split: str = "train", root: str | None = None, seed: int = 0):
        check_choice("split", split, SPLITS)
        folder = require_dir(root, "root")
        infos = []
        for path in sorted(folder.glob("*.json")):
            match = UCLA_NAME.match(path.stem)
            if not match:
                continue
            action, subject, episode, view = (int(g) for g in match.groups())
            if action not in LABEL_OF_ACTION:
                continue
            if split != "all" and (view in TRAIN_VIEWS) != (split == "train"):
                continue
            infos.append(SampleInfo(path.stem, LABEL_OF_ACTION[action], str(path), self.provides,
                                    {"subject": subject, "episode": episode, "view": view}))
        super().__init__(infos, len(ACTIONS), seed=seed)

    def load(self, index: int) -> dict:
        info = self.infos[index]
        path = Path(info.path)
        data = read_json(path)
        if not isinstance(data, dict) or "skeletons" not in data:
            raise DataError(f"{path}: expected a JSON object with a 'skeletons' key")
        joints = numeric_array(data["skeletons"], path, "'skeletons' (T, 20, 3)", 3)
        if joints.ndim != 3 or joints.shape[1:] != (UCLA_JOINTS, 3) or joints.shape[0] == 0:
            raise DataError(f"{path}: 'skeletons' should be (T, {UCLA_JOINTS}, 3) with T >= 1, got {joints.shape} "
                            f"(wrong joint count?)")
        check_finite(joints, path, "skeletons")
        if not joints.any():
            raise DataError(f"{path}: 'skeletons' holds no person (all {joints.shape[0]} frames are zeros)")
        return {"skeleton": joints[None], "label": info.label,
                "meta": {"id": info.id, "dataset": "nw_ucla", "layout": "nwucla20", **info.extra,
                         "camera": info.extra["view"]}}
