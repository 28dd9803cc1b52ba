"""The formats plugin: readers of the real datasets' release formats, registered as datasets.

Each factory is the reader class itself, so a recipe's ``data.dataset.args`` are checked against
its typed arguments. Every reader yields Sample dicts, raises
:class:`fusion.errors.DataError` naming the file for bad data, and has ``check()`` for
``fusion data check`` (see :func:`fusion_plugins.formats.common.scan`).
"""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import DatasetSpec, InputFormatSpec
from fusion_plugins.formats.keypoints import KeypointFolder
from fusion_plugins.formats.kinetics import KineticsSkeleton
from fusion_plugins.formats.ntu_dataset import NtuRgbd
from fusion_plugins.formats.nwucla import NwUcla
from fusion_plugins.formats.packed import PackedSkeletons
from fusion_plugins.formats.pkummd import PkuMmd
from fusion_plugins.formats.pyskl import PoseAnnotations
from fusion_plugins.formats.stgcn import CtrgcnNpz, StgcnArrays

#: Registry name → (reader class, one-line doc).
READERS = {
    "ntu": (NtuRgbd, "NTU RGB+D 60/120 release folders (.skeleton, RGB video, masked depth PNG, point cloud) "
                     "joined by sample name; xsub/xview/xset splits"),
    "pose_pickle": (PoseAnnotations, "PySKL / MMAction2 annotation pickle (2D keypoints + scores or 3D), "
                                     "split table inside"),
    "stgcn_npy": (StgcnArrays, "st-gcn packed (N, C, T, V, M) .npy + (names, labels) pickle"),
    "ctrgcn_npz": (CtrgcnNpz, "CTR-GCN packed .npz (x_train/y_train/x_test/y_test)"),
    "kinetics_skeleton": (KineticsSkeleton, "Kinetics-skeleton, st-gcn's OpenPose-18 JSON release"),
    "nw_ucla": (NwUcla, "NW-UCLA JSON skeletons (CTR-GCN form); views 1, 2 train, view 3 tests"),
    "pku_mmd": (PkuMmd, "PKU-MMD skeleton sequences cut into clips by the label intervals"),
    "packed": (PackedSkeletons, "a split written by `fusion data pack`: memory-mapped float32/float16 skeleton "
                                "arrays, zero-copy and shared by data-loader workers"),
    "keypoint_folder": (KeypointFolder, "your own data: a folder of per-sample keypoint files (npy/npz/json/csv) "
                                        "+ labels.csv, with a named or YAML-declared layout"),
}


@hookimpl
def fusion_add_datasets():
    return [DatasetSpec(name=name, factory=cls, modalities=cls.provides, doc=doc) for name, (cls, doc) in READERS.items()]


@hookimpl
def fusion_add_input_formats():
    from fusion_plugins.formats.inputs import INPUT_FORMATS

    return [InputFormatSpec(name=name, factory=read, accepts=accepts, modalities=modalities, doc=doc)
            for name, (read, accepts, modalities, doc) in INPUT_FORMATS.items()]


@hookimpl
def fusion_add_commands(data_commands):
    from fusion_plugins.formats.pack_cli import add_commands

    add_commands(data_commands)
