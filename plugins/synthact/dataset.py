"""The SynthAct torch Dataset: a split of the generated set, one Sample dict per item."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from fusion.errors import DataError
from fusion_plugins.synthact.body import LAYOUT
from fusion_plugins.synthact.cameras import make_cameras
from fusion_plugins.synthact.config import PROTOCOLS, SPLITS, SynthActConfig, check_choice, check_modalities
from fusion_plugins.synthact.generate import load_arrays
from fusion_plugins.synthact.samples import SETUP


class SynthAct(Dataset):
    """Fusion's built-in procedurally generated multimodal action dataset (see plugins/synthact/README.md).

    Items are Sample dicts: the requested modalities (skeleton and pose2d (M, T, V, 3) float32,
    rgb (T, H, W, 3) uint8, depth (T, H, W) uint16 mm, pointcloud (T, N, 3) float32 m), ``label``,
    ``skeleton_gt`` (clean joints for MPJPE, also in ``meta``) and ``meta``.
    ``split``: "train", "val", "test", "trainval" (train + val) or "all"; ``protocol``: "xsub" (of
    ``subjects`` performers the odd ones train, the even ones test; ``val_subjects`` more performers,
    numbered after them, are generated only to validate, so validation takes no training subject)
    or "xview" (cameras 2, 3 train, camera 1 tests; camera 3 validates, so training sees camera 2).
    Validation is disjoint from training and test by the protocol's own rule; with
    ``val_subjects=0`` xsub has no validation split (``validation_split`` is None).
    ``modalities=None`` means all five. Arrays are generated
    on first use and cached by parameter hash in ``cache_dir`` (default ``$FUSION_CACHE/synthact``
    or ``~/.cache/fusion/synthact``).
    """

    def __init__(
        self,
        split: str = "train",
        protocol: str = "xsub",
        subjects: int = 10,
        val_subjects: int = 1,
        classes: int = 12,
        frames: int = 32,
        size: int = 64,
        repetitions: int = 2,
        seed: int = 0,
        modalities: list[str] | None = None,
        points: int = 256,
        second_person: bool = False,
        cache_dir: str | None = None,
        nuisance: float = 1.0,
    ):
        check_choice("split", split, SPLITS)
        check_choice("protocol", protocol, PROTOCOLS)
        self.modalities = check_modalities(modalities)
        self.config = SynthActConfig(
            subjects=subjects, val_subjects=val_subjects, classes=classes, frames=frames, size=size, repetitions=repetitions,
            seed=seed, points=points, second_person=second_person, nuisance=nuisance,
        )  # fmt: skip
        self.split, self.protocol = split, protocol
        self.index, self.scene, self.arrays = load_arrays(self.config, self.modalities, cache_dir)
        self.indices = self.index.split(protocol, split)
        #: The split that validates a run trained on "train" (the trainer's ``data.val_split: auto``).
        self.validation_split = "val" if self.index.has_validation(protocol) else None
        if split == "val" and self.validation_split is None:
            raise DataError("synthact: split='val' under xsub needs validation subjects; val_subjects=0 "
                            "generates none (set val_subjects >= 1, or data.val_split: none)")
        self.class_names = [c.name for c in self.index.classes]
        self.num_classes = len(self.class_names)
        self.cameras = make_cameras(size)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        """Labels of this split, in item order (for samplers and class statistics)."""
        return self.index.label[self.indices]

    def sample_id(self, item: int) -> str:
        """The NTU-style name of item ``item`` (what error reports and written files use)."""
        return self.index.sample_id(int(self.indices[item]))

    def __getitem__(self, item: int) -> dict:
        i = int(self.indices[item])
        camera = self.cameras[int(self.index.camera[i])]
        gt = np.array(self.scene.skeleton_gt[i])
        sample = {m: np.array(self.arrays[m][i]) for m in self.modalities}
        sample["label"] = int(self.index.label[i])
        sample["skeleton_gt"] = gt
        sample["meta"] = {
            "id": self.index.sample_id(i),
            "dataset": "synthact",
            "subject": int(self.index.subject[i]),
            "camera": camera.number,
            "repetition": int(self.index.repetition[i]),
            "setup": SETUP,
            "action": int(self.index.label[i]) + 1,
            "class_name": self.class_names[int(self.index.label[i])],
            "layout": LAYOUT,
            "intrinsics": camera.intrinsics(),
            "extrinsics": camera.extrinsics(),
            "skeleton_gt": gt,
        }
        return sample

    def __repr__(self) -> str:
        return (
            f"SynthAct(split={self.split!r}, protocol={self.protocol!r}, samples={len(self)}, "
            f"classes={self.num_classes}, modalities={list(self.modalities)})"
        )
