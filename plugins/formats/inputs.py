"""One user file or folder → Sample dicts, for ``fusion predict`` (registered as input formats).

Each reader runs the same code as the dataset reader of its format (body selection, frame
sampling, centring), so a file gives ``fusion predict`` exactly the sample ``fusion eval`` would
see. A file without labels gives ``label = -1``. ``frames`` is the run's ``num_frames`` (None: all
frames), ``max_bodies`` its persons, ``points`` its points per frame.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from fusion.data.limits import budget_at_least
from fusion.errors import DataError, first_line
from fusion_plugins.formats.bodies import pose2d_color, select_bodies, skeleton_xyz
from fusion_plugins.formats.common import check_finite, layout_for_joints, read_json
from fusion_plugins.formats.depth import depth_frames, depth_to_points, read_depth_folder, resolve_intrinsics
from fusion_plugins.formats.kinetics import kinetics_array
from fusion_plugins.formats.ntu import COLOR_SIZE, read_skeleton
from fusion_plugins.formats.pkummd import VALUES_PER_FRAME, read_sequence
from fusion_plugins.formats.pyskl import PoseAnnotations
from fusion_plugins.formats.sampling import sample_indices
from fusion_plugins.formats.video import open_video
from fusion_plugins.skeleton.modality import bones_or_empty

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


def _meta(path: Path, sample_id: str, fmt: str, layout: str | None = None, **extra) -> dict:
    meta = {"id": sample_id, "source": str(path), "format": fmt, **extra}
    if layout:
        meta.update(layout=layout, bones=bones_or_empty(layout))
    return meta


# ------------------------------------------------------------------ skeleton files


def read_ntu_skeleton(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """An NTU RGB+D ``.skeleton`` file: ``skeleton`` (M, T, 25, 3) xyz and ``pose2d`` colour-frame joints."""
    skeleton_file = read_skeleton(path)
    slots = select_bodies(skeleton_file.tracks, max_bodies)
    if not slots:
        raise DataError(f"{path}: no body is tracked in any of its {skeleton_file.num_frames} frames")
    indices = sample_indices(skeleton_file.num_frames, frames)
    xyz = skeleton_xyz(slots, skeleton_file.num_frames, max_bodies)[:, indices]
    uvs = pose2d_color(slots, skeleton_file.num_frames, max_bodies)[:, indices]
    meta = _meta(Path(path), Path(path).stem, "ntu_skeleton", "ntu25", pose2d_layout="ntu25", image_size=COLOR_SIZE)
    return [{"skeleton": check_finite(xyz, path, "joint xyz"), "pose2d": check_finite(uvs, path, "joint colorX/colorY"),
             "label": -1, "meta": meta}]


def is_pku_sequence(path: str) -> bool:
    """A ``.txt`` file whose first non-empty line holds 150 numbers (PKU-MMD: 2 persons x 25 joints x xyz)."""
    if Path(path).suffix.lower() != ".txt" or not Path(path).is_file():
        return False
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return len(line.split()) == VALUES_PER_FRAME
    return False


def read_pku_sequence(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """A PKU-MMD skeleton sequence as one sample ``skeleton`` (2, T, 25, 3) (no label intervals: the whole file)."""
    sequence = read_sequence(Path(path))
    clip = np.ascontiguousarray(sequence.transpose(1, 0, 2, 3))[:, sample_indices(len(sequence), frames)]
    return [{"skeleton": check_finite(clip, path, "joints"), "label": -1,
             "meta": _meta(Path(path), Path(path).stem, "pku_mmd", "ntu25")}]


def read_pose_pickle(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """Every entry of a PySKL / MMAction2 annotation pickle (read without running code), labels kept."""
    annotations = PoseAnnotations("all", path=path)
    samples = []
    for index in range(len(annotations)):
        sample = annotations.load(index)
        layout = sample["meta"]["layout"]
        sample["meta"] = {**sample["meta"], **_meta(Path(path), sample["meta"]["id"], "pose_pickle", layout)}
        samples.append(sample)
    return samples


def read_stgcn_npy(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """Every row of an st-gcn packed ``(N, C, T, V, M)`` array as ``skeleton`` (M, T, V, C), padding kept."""
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # a corrupt header raises ValueError, SyntaxError, tokenize errors...
        raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__}: {str(exc)[:160]})") from None
    if data.ndim != 5 or data.shape[1] not in (2, 3):
        raise DataError(f"{path}: expected an st-gcn array (N, C=2|3, T, V, M), got shape {data.shape}")
    layout = layout_for_joints(data.shape[3])
    samples = []
    for row in range(data.shape[0]):
        skeleton = np.ascontiguousarray(np.asarray(data[row], dtype=np.float32).transpose(3, 1, 2, 0))
        samples.append({"skeleton": check_finite(skeleton, f"{path} [row {row}]", "skeleton"), "label": -1,
                        "meta": _meta(Path(path), f"{Path(path).stem}[{row}]", "stgcn_npy", layout)})
    return samples


def read_kinetics_json(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """A Kinetics-skeleton (st-gcn OpenPose-18) video JSON, prepared as the Kinetics dataset reader does."""
    pose = kinetics_array(read_json(Path(path)), Path(path), 5, max_bodies, 300)
    centred = pose.copy()
    centred[..., :2] -= 0.5
    centred[centred[..., 2] == 0] = 0.0
    return [{"skeleton": centred, "pose2d": pose, "label": -1,
             "meta": _meta(Path(path), Path(path).stem, "kinetics_skeleton", "openpose18")}]


# ------------------------------------------------------------------ depth, point clouds, video


def is_depth_folder(path: str) -> bool:
    return Path(path).is_dir() and any(Path(path).glob("*.png"))


def read_depth(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """A folder of 16-bit depth PNGs (mm): ``depth`` (T, H, W) and ``pointcloud`` back-projected (NTU intrinsics)."""
    folder = Path(path)
    indices = sample_indices(len(depth_frames(folder)), frames)
    depth = read_depth_folder(folder, indices, None)
    cloud = depth_to_points(depth, resolve_intrinsics("ntu_p4"), points, None)
    return [{"depth": depth, "pointcloud": cloud, "label": -1,
             "meta": _meta(folder, folder.name, "depth_folder", frames=indices)}]


def is_point_folder(path: str) -> bool:
    return Path(path).is_dir() and any(Path(path).glob("*.npy")) and not any(Path(path).glob("*.png"))


def read_points(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """A folder of per-frame ``(N, 3)`` ``.npy`` point clouds (metres), each resampled to ``points`` points."""
    files = sorted(Path(path).glob("*.npy"))
    clouds = []
    for file in (files[i] for i in sample_indices(len(files), frames)):
        cloud = np.load(file, allow_pickle=False).astype(np.float32)
        if cloud.ndim != 2 or cloud.shape[1] != 3 or not len(cloud):
            raise DataError(f"{file}: expected a point cloud (N, 3) with N > 0, got shape {cloud.shape}")
        pick = np.linspace(0, len(cloud) - 1, points).round().astype(int)  # deterministic resampling
        clouds.append(check_finite(cloud[pick], file, "points"))
    return [{"pointcloud": np.stack(clouds), "label": -1, "meta": _meta(Path(path), Path(path).name, "point_folder")}]


#: Decoded frames one video given to ``fusion predict`` may take (the issue's bound: 1 GiB).
PREDICT_VIDEO_BYTES = 2**30


def read_video(path: str, frames: int | None = None, max_bodies: int = 2, points: int = 2048) -> list[dict]:
    """A video file: ``rgb`` (T, H, W, 3) uint8 at ``frames`` uniformly spaced frames (None: every frame).

    One file read whole for prediction may take up to :data:`PREDICT_VIDEO_BYTES` decoded (more with
    ``FUSION_MAX_SAMPLE_MB``), not a training sample's budget."""
    try:
        with budget_at_least(PREDICT_VIDEO_BYTES):
            video = open_video(path)
            indices = sample_indices(video.num_frames, frames)
            rgb = video.read(indices)
    except DataError as exc:  # the dataset reader's frame-count checks; a phone's variable-rate video fails them
        if "truncated or damaged" not in str(exc):
            raise
        print(f"warning: {exc}; reading the frames that decode", file=sys.stderr)
        rgb, indices = _decode_all(path, frames)
    stem = Path(path).stem
    sample_id = stem[:-4] if stem.endswith("_rgb") else stem  # NTU names: S001C001P001R001A001_rgb.avi
    return [{"rgb": rgb, "label": -1, "meta": _meta(Path(path), sample_id, "video", frames=indices)}]


def _decode_all(path: str, frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Every decodable frame with PyAV (a user's file, not a dataset's: no count checks), then ``frames`` of them."""
    import av

    try:
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except Exception as exc:
        raise DataError(f"{path}: cannot decode the video with PyAV ({first_line(exc)})") from None
    if not decoded:
        raise DataError(f"{path}: no frame decodes")
    indices = sample_indices(len(decoded), frames)
    return np.stack([decoded[i] for i in indices]), indices


def has_suffix(*suffixes: str):
    def accepts(path: str) -> bool:
        return Path(path).is_file() and Path(path).suffix.lower() in suffixes
    return accepts


def is_stgcn_array(path: str) -> bool:
    """A ``.npy`` file holding a 5-D array (st-gcn's packed (N, C, T, V, M)); the header is read, not the data."""
    if not has_suffix(".npy")(path):
        return False
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False).ndim == 5
    except (OSError, ValueError):
        return False


def is_kinetics_json(path: str) -> bool:
    """A ``.json`` file whose top level is an object with a ``data`` list of frames (st-gcn's Kinetics files)."""
    if not has_suffix(".json")(path):
        return False
    try:
        value = read_json(Path(path))
    except DataError:
        return False
    return isinstance(value, dict) and isinstance(value.get("data"), list)


def is_keypoint_file(path: str) -> bool:
    """A generic keypoint file (npy / npz / json / csv) that no release format above claims."""
    return has_suffix(".npy", ".npz", ".json", ".csv")(path) and not is_stgcn_array(path) and not is_kinetics_json(path)


#: name → (reader, accepts, modalities, doc)
def read_keypoint_file(path: str, frames: int | None = None, max_bodies: int = 1, points: int = 2048) -> list[dict]:
    """One file of a ``keypoint_folder`` dataset (npy / npz / json / csv), sampled as the dataset samples it."""
    from fusion_plugins.formats.keypoints import fit_persons_and_frames, read_keypoints

    array = read_keypoints(path)
    return [{"skeleton": fit_persons_and_frames(array, max_bodies, frames), "label": -1,
             "meta": _meta(Path(path), Path(path).stem, "keypoint_folder")}]


INPUT_FORMATS = {
    "ntu_skeleton": (read_ntu_skeleton, has_suffix(".skeleton"), ("skeleton", "pose2d"), "NTU RGB+D .skeleton file"),
    "pku_mmd": (read_pku_sequence, is_pku_sequence, ("skeleton",), "PKU-MMD skeleton sequence (.txt, 150 values a line)"),
    "pose_pickle": (read_pose_pickle, has_suffix(".pkl", ".pickle"), ("skeleton", "pose2d"),
                    "PySKL / MMAction2 annotation pickle (every entry)"),
    "stgcn_npy": (read_stgcn_npy, is_stgcn_array, ("skeleton",), "st-gcn packed (N, C, T, V, M) .npy (every row)"),
    "kinetics_json": (read_kinetics_json, is_kinetics_json, ("skeleton", "pose2d"),
                      "Kinetics-skeleton OpenPose-18 video JSON"),
    "depth_folder": (read_depth, is_depth_folder, ("depth", "pointcloud"), "folder of 16-bit depth PNGs (mm)"),
    "point_folder": (read_points, is_point_folder, ("pointcloud",), "folder of per-frame (N, 3) .npy point clouds"),
    "video": (read_video, has_suffix(*VIDEO_SUFFIXES), ("rgb",), "video file (" + ", ".join(VIDEO_SUFFIXES) + ")"),
    "keypoint_folder": (read_keypoint_file, is_keypoint_file, ("skeleton",),
                        "one keypoint file of a keypoint_folder dataset (.npy, .npz, .json, .csv)"),
}
