"""NTU RGB+D from its release folders: skeleton, pose2d, RGB, depth and point cloud joined by sample name.

Files of one sample share the name ``SsssCcccPpppRrrrAaaa``::

    skeleton_dir/<name>.skeleton            (nturgb+d_skeletons)
    rgb_dir/<name>_rgb.avi | <name>.mp4     (nturgb+d_rgb, or PySKL's re-encoded videos)
    depth_dir/<name>/MDepth-00000001.png    (nturgb+d_depth_masked)
    pose2d_pickle: PySKL's ntu60_hrnet.pkl  (HRNet COCO-17 x, y, score per frame; entries by frame_dir)

``pose2d`` comes from the Kinect colour-frame joints of the ``.skeleton`` files (NTU-25), or, with
``pose2d_pickle`` given, from a PySKL 2D pickle (COCO-17, the EPAM-Net / PoseC3D input), read with
the restricted unpickler and checked entry by entry like the ``pose_pickle`` dataset.

A sample is in the index when a file of any requested modality exists; a modality whose file is
absent is left out of that sample (collate marks it missing). Skeleton-based requests drop the
official missing-skeleton samples (``missing: official``), as every benchmark does.

Frames: with ``num_frames`` set, indices are chosen once on the sample's reference length
(skeleton, else video, else depth) and mapped onto each modality's own length, so modalities stay
aligned in time and videos decode only the frames used. Training splits sample at random
(generator seeded by seed, epoch, index); test splits deterministically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fusion.data.limits import check_elements
from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.bodies import pose2d_color, select_bodies, skeleton_xyz
from fusion_plugins.formats.class_names import ntu_names
from fusion_plugins.formats.common import (
    FormatDataset,
    SampleInfo,
    check_choice,
    check_count,
    check_finite,
    require_dir,
)
from fusion_plugins.formats.depth import (
    NTU_DEPTH_SIZE,
    depth_frames,
    depth_to_points,
    read_depth_folder,
    resolve_intrinsics,
)
from fusion_plugins.formats.ntu import COLOR_SIZE, NTU_JOINTS, read_skeleton
from fusion_plugins.formats.ntu_missing import NTU60_MISSING_SKELETONS, NTU120_MISSING_SKELETONS
from fusion_plugins.formats.pyskl import PoseAnnotations
from fusion_plugins.formats.sampling import SAMPLINGS, sample_indices
from fusion_plugins.formats.splits import (
    BENCHMARKS,
    PROTOCOLS,
    in_benchmark,
    in_part,
    parse_ntu_name,
    read_name_list,
    resolve_split,
)
from fusion_plugins.formats.video import BACKENDS, check_same_length, open_video, resolve_backend

MODALITIES = ("skeleton", "pose2d", "rgb", "depth", "pointcloud")
#: Which folder option each modality reads.
SOURCE = {"skeleton": "skeleton_dir", "pose2d": "skeleton_dir", "rgb": "rgb_dir", "depth": "depth_dir",
          "pointcloud": "depth_dir"}
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm")


def _index_skeletons(folder: Path) -> dict[str, Path]:
    return {e.name[:-9]: Path(e.path) for e in os.scandir(folder) if e.name.endswith(".skeleton")}


def _index_videos(folder: Path) -> dict[str, Path]:
    found = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = parse_ntu_name(entry.name)
        if name and entry.name.lower().endswith(VIDEO_SUFFIXES):
            found.setdefault(name.name, Path(entry.path))
    return found


def _index_depth(folder: Path) -> dict[str, Path]:
    return {e.name: Path(e.path) for e in os.scandir(folder) if e.is_dir() and parse_ntu_name(e.name)}


def pad_persons(keypoint: np.ndarray, persons: int) -> np.ndarray:
    """(M, T, V, C) -> (persons, T, V, C): the first ``persons`` bodies, zero bodies appended."""
    out = np.zeros((persons, *keypoint.shape[1:]), dtype=np.float32)
    kept = keypoint[:persons]
    out[: len(kept)] = kept
    return out


def missing_names(missing: str | None, benchmark: str | None) -> frozenset[str]:
    """The sample names to leave out: ``official`` (the list of the benchmark), a file path, or none."""
    if missing in (None, "none", ""):
        return frozenset()
    if missing == "official":
        return NTU60_MISSING_SKELETONS if benchmark == "ntu60" else NTU120_MISSING_SKELETONS
    return frozenset(read_name_list(missing))


class NtuRgbd(FormatDataset):
    """NTU RGB+D 60/120 read from the release folders; see the module docstring for the layout.

    Args:
        split: ``train``, ``test`` (= ``val``), ``all``, or ``xsub_train`` / ``xview_val`` / ...
        protocol: ``xsub`` (NTU60, NTU120), ``xview`` (NTU60) or ``xset`` (NTU120).
        benchmark: ``ntu60`` (setups 1-17, actions 1-60), ``ntu120`` or None (every file found).
        skeleton_dir, rgb_dir, depth_dir: the release folders; give those the modalities need.
        pose2d_pickle: a PySKL 2D pickle (``ntu60_hrnet.pkl``) to read ``pose2d`` from instead of
            the skeleton files' colour-frame joints (persons: the first ``max_bodies`` entries).
        modalities: any of skeleton, pose2d, rgb, depth, pointcloud; default: skeleton, rgb, depth
            for each folder given.
        missing: ``official`` (the NTU lists), a text file of names, or ``none``.
        max_bodies: persons kept (2 in every benchmark); ``denoise``: PySKL's body denoising
            instead of the energy rule (see :mod:`fusion_plugins.formats.bodies`).
        num_frames: frames per sample (None: all); ``sampling``: ``uniform`` or ``clip``
            (``stride`` apart); ``random_sampling``: default True on training splits.
        backend: video decoder, ``auto`` (torchcodec, else PyAV) | ``torchcodec`` | ``pyav`` | ``decord``.
        points: points per frame for ``pointcloud``; ``intrinsics``: ``ntu_p4`` | ``kinect_v2`` |
            mapping (see :mod:`fusion_plugins.formats.depth`); ``depth_size``: expected [W, H]
            (None accepts any).
    """

    provides = MODALITIES

    def __init__(
        self,
        split: str = "train",
        protocol: str = "xsub",
        benchmark: str | None = "ntu60",
        skeleton_dir: str | None = None,
        rgb_dir: str | None = None,
        depth_dir: str | None = None,
        pose2d_pickle: str | None = None,
        modalities: Sequence[str] | None = None,
        missing: str | None = "official",
        max_bodies: int = 2,
        denoise: bool = False,
        num_frames: int | None = None,
        sampling: str = "uniform",
        stride: int = 1,
        random_sampling: bool | None = None,
        backend: str = "auto",
        points: int = 2048,
        intrinsics: str | Mapping = "ntu_p4",
        depth_size: Sequence[int] | None = NTU_DEPTH_SIZE,
        num_classes: int | None = None,
        seed: int = 0,
    ):
        check_choice("protocol", protocol, PROTOCOLS)
        check_choice("benchmark", benchmark, (*BENCHMARKS, None))
        check_choice("sampling", sampling, SAMPLINGS)
        check_choice("backend", backend, BACKENDS)
        num_frames = check_count("num_frames", num_frames, optional=True)
        stride, points, max_bodies = (check_count(k, v) for k, v in (("stride", stride), ("points", points),
                                                                        ("max_bodies", max_bodies)))
        num_classes = check_count("num_classes", num_classes, optional=True)
        if depth_size is not None and (isinstance(depth_size, str) or len(depth_size) != 2):
            raise RecipeError(f"data.dataset.args.depth_size: expected [width, height] or null, got {depth_size!r}")
        depth_size = depth_size and tuple(check_count("depth_size", v) for v in depth_size)
        dirs = {"skeleton_dir": skeleton_dir, "rgb_dir": rgb_dir, "depth_dir": depth_dir}
        self.source = {**SOURCE, "pose2d": "pose2d_pickle"} if pose2d_pickle is not None else SOURCE
        if modalities is None:
            modalities = [m for m in ("skeleton", "rgb", "depth") if dirs[SOURCE[m]] is not None]
            modalities += ["pose2d"] if pose2d_pickle is not None else []
        if not modalities:
            raise RecipeError("data.dataset.args: give at least one of skeleton_dir, rgb_dir, depth_dir, pose2d_pickle")
        for modality in modalities:
            check_choice("modalities", modality, MODALITIES)
            if {**dirs, "pose2d_pickle": pose2d_pickle}[self.source[modality]] is None:
                alternative = " (or pose2d_pickle, a PySKL 2D pickle)" if modality == "pose2d" else ""
                raise RecipeError(f"data.dataset.args.{self.source[modality]}: needed for modality {modality!r}{alternative}")
        self.modalities = tuple(modalities)
        self.dirs = {key: require_dir(path, key) for key, path in dirs.items() if path is not None
                     and any(self.source[m] == key for m in self.modalities)}
        self.poses = (PoseAnnotations("all", path=pose2d_pickle) if "pose2d_pickle" in self.source.values()
                      and "pose2d" in self.modalities else None)
        proto, part = resolve_split(split, protocol)
        check_choice("protocol", proto, PROTOCOLS)
        self.split, self.protocol, self.part, self.benchmark = split, proto, part, benchmark
        self.max_bodies, self.denoise = int(max_bodies), bool(denoise)
        self.num_frames, self.sampling, self.stride = num_frames, sampling, int(stride)
        self.random_sampling = part == "train" if random_sampling is None else bool(random_sampling)
        self.backend = resolve_backend(backend) if "rgb" in self.modalities else backend
        self.points, self.intrinsics = int(points), resolve_intrinsics(intrinsics)
        self.depth_size = tuple(depth_size) if depth_size is not None else None
        skipped = missing_names(missing, benchmark) if {"skeleton", "pose2d"} & set(self.modalities) else frozenset()
        infos = self._build_index(skipped)
        if benchmark is not None:
            classes = BENCHMARKS[benchmark][1]
            if num_classes is not None and num_classes != classes:
                raise RecipeError(f"data.dataset.args.num_classes: {benchmark} has {classes} classes, not {num_classes}")
        else:
            classes = num_classes or max((i.label for i in infos), default=-1) + 1
        super().__init__(infos, classes, ntu_names(classes), seed=seed)

    def _build_index(self, skipped: frozenset[str]) -> list[SampleInfo]:
        files: dict[str, dict[str, Path]] = {}
        indexers = {"skeleton_dir": _index_skeletons, "rgb_dir": _index_videos, "depth_dir": _index_depth}
        for key, folder in self.dirs.items():
            for name, path in indexers[key](folder).items():
                files.setdefault(name, {})[key] = path
        if self.poses is not None:  # entries by frame_dir; split "all" keeps the file's order
            self.pose_positions = {info.id: position for position, info in enumerate(self.poses.infos)}
            for name in self.pose_positions:
                files.setdefault(name, {})["pose2d_pickle"] = Path(self.poses.path)
        infos = []
        for name in sorted(files):
            parsed = parse_ntu_name(name)
            if parsed is None or parsed.name != name or name in skipped:
                continue
            if not in_benchmark(parsed, self.benchmark) or not in_part(parsed, self.protocol, self.part):
                continue
            have = tuple(m for m in self.modalities if self.source[m] in files[name])
            first = files[name][self.source[have[0]]]
            infos.append(SampleInfo(name, parsed.label, str(first), have,
                                    {"files": {k: str(v) for k, v in files[name].items()}, "name": parsed}))
        return infos

    # ------------------------------------------------------------------ loading

    def load(self, index: int) -> dict:
        info = self.infos[index]
        files = {k: Path(v) for k, v in info.extra["files"].items()}
        draws = self.num_frames is not None or "pointcloud" in info.modalities  # else nothing is random
        rng = self.rng(index) if self.random_sampling and draws else None
        sample: dict = {}
        skeleton_file = video = depth_list = poses = None
        if "skeleton" in info.modalities or ("pose2d" in info.modalities and self.poses is None):
            skeleton_file = read_skeleton(files["skeleton_dir"])
        if "pose2d" in info.modalities and self.poses is not None:
            poses = self.poses.load(self.pose_positions[info.id]).get("pose2d")
            if poses is None:
                raise DataError(f"{self.poses.path} [{info.id}]: pose2d_pickle holds 3D keypoints; expected a 2D "
                                f"pickle (x, y and keypoint_score, e.g. ntu60_hrnet.pkl)")
        if "rgb" in info.modalities:
            video = open_video(files["rgb_dir"], self.backend)
        if {"depth", "pointcloud"} & set(info.modalities):
            depth_list = depth_frames(files["depth_dir"])
        lengths = {"skeleton": skeleton_file and skeleton_file.num_frames,
                   "pose2d": poses is not None and poses.shape[1], "rgb": video and video.num_frames,
                   "depth": depth_list and len(depth_list)}
        reference = next(n for n in lengths.values() if n)
        if video is not None and skeleton_file is not None:  # one Kinect recording: the counts must agree
            check_same_length(video.path, video.num_frames, skeleton_file.path, skeleton_file.num_frames)
        indices = sample_indices(reference, self.num_frames, self.sampling, self.stride, rng)

        def on(length: int) -> np.ndarray:
            return indices if length == reference else np.minimum(indices * length // reference, length - 1)

        if skeleton_file is not None:
            slots = select_bodies(skeleton_file.tracks, self.max_bodies, self.denoise)
            if not slots:
                raise DataError(f"{skeleton_file.path}: no body is tracked in any of its {skeleton_file.num_frames} "
                                f"frames (a sample of the missing-skeleton lists?)")
            check_elements(self.max_bodies * skeleton_file.num_frames * NTU_JOINTS * 4, 4, skeleton_file.path,
                           f"the joint arrays of {skeleton_file.num_frames} frames x {self.max_bodies} bodies")
            frames = on(skeleton_file.num_frames)
            if "skeleton" in info.modalities:
                xyz = skeleton_xyz(slots, skeleton_file.num_frames, self.max_bodies)[:, frames]
                sample["skeleton"] = check_finite(xyz, skeleton_file.path, "joint xyz")
            if "pose2d" in info.modalities and poses is None:
                uvs = pose2d_color(slots, skeleton_file.num_frames, self.max_bodies)[:, frames]
                sample["pose2d"] = check_finite(uvs, skeleton_file.path, "joint colorX/colorY")
        if poses is not None:
            sample["pose2d"] = pad_persons(poses, self.max_bodies)[:, on(poses.shape[1])]
        if video is not None:
            sample["rgb"] = video.read(on(video.num_frames))
        if depth_list is not None:
            depth = read_depth_folder(files["depth_dir"], on(len(depth_list)), self.depth_size)
            if not depth.any():  # a masked frame set with nobody in it: zeros would train as a real sample
                raise DataError(f"{files['depth_dir']}: the {len(depth)} depth frame(s) read hold no depth reading "
                                f"(all pixels 0)")
            if "depth" in info.modalities:
                sample["depth"] = depth
            if "pointcloud" in info.modalities:
                sample["pointcloud"] = depth_to_points(depth, self.intrinsics, self.points, rng)
        sample["label"] = info.label
        sample["meta"] = {
            **info.extra["name"].meta(),
            "dataset": self.benchmark or "ntu",
            "layout": "ntu25",
            "pose2d_layout": "coco17" if poses is not None else "ntu25",
            "frames": indices,
            "intrinsics": dict(self.intrinsics),
            "image_size": COLOR_SIZE,
            "files": info.extra["files"],
        }
        return sample
