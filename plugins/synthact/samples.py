"""Which samples exist, their NTU-style ids, and the cross-subject / cross-view splits.

One sample per (camera, subject, repetition, class), ordered like sorted NTU ids. A *performance*
is (subject, repetition, motion): the three cameras film the same performance, as in NTU, and the
classes of an object pair (or the time-reversed pair) share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion_plugins.synthact.actions import CATALOGUE, MOTION_INDEX, ActionClass
from fusion_plugins.synthact.cameras import AZIMUTHS
from fusion_plugins.synthact.config import SynthActConfig

SETUP = 1  # one camera setup (NTU's S001); all samples share it
#: Cross-view protocol: train on cameras 2 and 3, test on camera 1 (the front camera).
XVIEW_TRAIN_CAMERAS = (2, 3)
XVIEW_TEST_CAMERA = 1
#: Cross-view validation camera (held out of the training cameras).
XVIEW_VAL_CAMERA = 3


@dataclass(frozen=True)
class SampleIndex:
    """Arrays of shape (S,), one entry per sample; subject, camera, repetition are 1-based."""

    camera: np.ndarray
    subject: np.ndarray
    repetition: np.ndarray
    label: np.ndarray
    classes: tuple[ActionClass, ...]
    #: Subjects numbered above this one are validation performers (see :meth:`validation_mask`).
    protocol_subjects: int

    def __len__(self) -> int:
        return len(self.label)

    def sample_id(self, i: int) -> str:
        """NTU naming ``SsssCcccPpppRrrrAaaa`` (action = label + 1)."""
        return f"S{SETUP:03d}C{self.camera[i]:03d}P{self.subject[i]:03d}R{self.repetition[i]:03d}A{self.label[i] + 1:03d}"

    def motion(self) -> np.ndarray:
        """Motion program index of every sample."""
        return np.array([MOTION_INDEX[c.motion] for c in self.classes])[self.label]

    def split(self, protocol: str, split: str) -> np.ndarray:
        """Indices of ``split`` under ``protocol`` ("xsub" or "xview").

        xsub trains on the odd-numbered subjects (1, 3, 5, ...) and tests on the even ones; xview
        trains on cameras 2 and 3 and tests on camera 1. ``"val"`` is the validation part (see
        :meth:`validation_mask`), ``"train"`` the training part without it, ``"trainval"`` both,
        ``"all"`` every sample.
        """
        if split == "all":
            return np.arange(len(self))
        performer = self.subject <= self.protocol_subjects
        if protocol == "xsub":
            train, test = performer & (self.subject % 2 == 1), performer & (self.subject % 2 == 0)
        else:
            train, test = performer & np.isin(self.camera, XVIEW_TRAIN_CAMERAS), performer & (self.camera == XVIEW_TEST_CAMERA)
        val = self.validation_mask(protocol)
        parts = {"train": train & ~val, "val": val, "trainval": train | val, "test": test}
        return np.flatnonzero(parts[split])

    def validation_mask(self, protocol: str) -> np.ndarray:
        """Samples of the validation part. xsub: the validation subjects, performers generated only
        for validation (numbered after the protocol's subjects), so every training subject still
        trains; xview: training camera 3 of the protocol's subjects. Disjoint from training and
        test by the protocol's own rule (subjects, cameras)."""
        if protocol == "xview":
            return (self.subject <= self.protocol_subjects) & (self.camera == XVIEW_VAL_CAMERA)
        return self.subject > self.protocol_subjects

    def has_validation(self, protocol: str) -> bool:
        return bool(self.validation_mask(protocol).any())


def build_index(cfg: SynthActConfig) -> SampleIndex:
    cam, sub, rep, lab = np.meshgrid(
        np.array(sorted(AZIMUTHS)),
        np.arange(1, cfg.subjects + cfg.val_subjects + 1),
        np.arange(1, cfg.repetitions + 1),
        np.arange(cfg.classes),
        indexing="ij",
    )
    return SampleIndex(cam.ravel(), sub.ravel(), rep.ravel(), lab.ravel(), CATALOGUE[: cfg.classes], cfg.subjects)
