"""Write SynthAct in the real datasets' file formats, so the real readers are exercised end to end.

Layout of the output folder (NTU RGB+D names)::

    nturgb+d_skeletons/SsssCcccPpppRrrrAaaa.skeleton        Kinect v2 text format
    nturgb+d_depth_masked/SsssCcccPpppRrrrAaaa/MDepth-%08d.png   16-bit PNG, millimetres, 0 = no reading
    nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.mp4                H.264 (PyAV), no audio
    synthact_3danno.pkl     PySKL 3D annotations (float16 keypoint (M, T, 25, 3)) + xsub/xview splits
    synthact_2d.pkl         PySKL 2D annotations (keypoint (M, T, 25, 2), keypoint_score, img_shape)
    synthact.json           parameters, class names, camera intrinsics (for depth → point cloud)

Every writer is deterministic: the same arrays give the same bytes (fixed float formatting, PNG
and pickle without timestamps, x264 on one thread), so a seed fixes the whole folder.
The images keep the generated size (``size`` x ``size``), not Kinect's 512x424 / 1920x1080; the
``.skeleton`` depthX/Y and colorX/Y columns are projected with Kinect v2's intrinsics so that
they lie in those frames, as in the real files.
"""

from __future__ import annotations

import io
import json
import pickle
import time
from pathlib import Path

import numpy as np

from fusion.errors import DataError
from fusion.train.console import bar, progress_enabled
from fusion_plugins.synthact.body import JOINTS, LAYOUT, PARENTS, J
from fusion_plugins.synthact.cameras import KINECT_COLOR, KINECT_DEPTH, make_cameras, project
from fusion_plugins.synthact.config import GENERATOR_VERSION, PROTOCOLS, SynthActConfig
from fusion_plugins.synthact.generate import load_arrays
from fusion_plugins.synthact.samples import SampleIndex

SKELETON_DIR = "nturgb+d_skeletons"
DEPTH_DIR = "nturgb+d_depth_masked"
RGB_DIR = "nturgb+d_rgb"
PICKLE_3D = "synthact_3danno.pkl"
PICKLE_2D = "synthact_2d.pkl"
INFO_FILE = "synthact.json"
#: What can be written; the point cloud is not a file format of its own (readers derive it from depth).
WRITABLE: tuple[str, ...] = ("skeleton", "pose2d", "depth", "rgb")
FPS = 30
#: Kinect body IDs are 64-bit and above 2^53 (a float parse would merge people): 2^56 + a per-body number.
BODY_ID_BASE = 1 << 56
PICKLE_PROTOCOL = 4
X264_OPTIONS = {"preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}


# ------------------------------------------------------------------------------------------------
# .skeleton


def joint_orientations(joints: np.ndarray) -> np.ndarray:
    """(..., V, 3) joints → (..., V, 4) unit quaternions (w, x, y, z) turning +y onto each bone.

    A bone runs from the joint's parent to the joint (the root uses SpineBase → SpineMid). Kinect's
    orientations are full bone frames; this one fixes only the bone axis, which is what a reader can check.
    """
    parents = np.array(PARENTS)
    bone = joints - joints[..., parents, :]
    root = J["SpineBase"]
    bone[..., root, :] = joints[..., J["SpineMid"], :] - joints[..., root, :]
    d = bone / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-9)
    # rotation from y=(0,1,0) to d: q = (1 + y·d, y × d) normalised; y × d = (dz, 0, -dx)
    q = np.stack([1.0 + d[..., 1], d[..., 2], np.zeros_like(d[..., 0]), -d[..., 0]], -1)
    flipped = q[..., 0] < 1e-6  # d = -y (or no bone): half turn about z
    q[flipped] = (0.0, 0.0, 0.0, 1.0)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def skeleton_text(joints: np.ndarray, state: np.ndarray, body_ids: list[int]) -> str:
    """The ``.skeleton`` text of one sample.

    ``joints`` (M, T, V, 3) metres in Kinect camera space, ``state`` (M, T, V) uint8 (2 tracked,
    1 inferred, 0 for every joint of a body not seen in that frame, which is then not written: a
    dropped frame has 0 bodies). ``body_ids``: one stable ID per person.
    """
    m, t, v, _ = joints.shape
    if v != len(JOINTS):
        raise DataError(f"skeleton_text: expected {len(JOINTS)} joints, got {v}")
    present = state.any(axis=2)  # (M, T)
    depth_xy = project(joints, KINECT_DEPTH)
    color_xy = project(joints, KINECT_COLOR)
    rows = np.concatenate([joints, depth_xy, color_xy, joint_orientations(joints)], -1)  # (M, T, V, 11)
    spine = joints[:, :, J["SpineShoulder"]] - joints[:, :, J["SpineBase"]]
    spine /= np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-9)
    lean = np.stack([spine[..., 0], -spine[..., 2]], -1)  # (M, T, 2): sideways, forward-back
    joint_fmt = " ".join(["%.7g"] * 11) + " %d"
    lines = [str(t)]
    for frame in range(t):
        bodies = np.flatnonzero(present[:, frame])
        lines.append(str(len(bodies)))
        for body in bodies:
            lean_x, lean_y = lean[body, frame]
            lines.append(f"{body_ids[body]} 0 1 1 1 1 0 {lean_x:.7g} {lean_y:.7g} 2")
            lines.append(str(v))
            values = rows[body, frame].tolist()
            states = state[body, frame].tolist()
            lines.extend(joint_fmt % (*row, s) for row, s in zip(values, states))
    return "\n".join(lines) + "\n"


def skeleton_line_count(bodies_per_frame: np.ndarray) -> int:
    """Lines of a ``.skeleton`` file with these body counts: 1 + Σ_frames (1 + bodies · 27)."""
    return 1 + int(np.sum(1 + 27 * np.asarray(bodies_per_frame)))


# ------------------------------------------------------------------------------------------------
# depth PNGs and video


def png_bytes(depth: np.ndarray) -> bytes:
    """One (H, W) uint16 frame as a 16-bit greyscale PNG."""
    from PIL import Image

    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise DataError(f"png_bytes: expected an (H, W) uint16 depth frame, got {depth.shape} {depth.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(depth).save(buffer, format="PNG")
    return buffer.getvalue()


def write_depth_folder(folder: Path, depth: np.ndarray) -> None:
    """(T, H, W) uint16 mm → ``folder/MDepth-00000001.png`` ... (1-based, as NTU's masked depth)."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame, image in enumerate(depth, start=1):
        (folder / f"MDepth-{frame:08d}.png").write_bytes(png_bytes(image))


def video_bytes(rgb: np.ndarray, fps: int = FPS, crf: int = 18) -> bytes:
    """(T, H, W, 3) uint8 → an H.264 mp4 (yuv420p, no audio) encoded with PyAV.

    Settings for identical bytes from identical frames: one encoder thread, and no macroblock-tree
    rate control (with it, x264's output for the same frames was seen to change within one process
    after unrelated numpy work).
    """
    import av

    t, h, w, c = rgb.shape
    if c != 3 or rgb.dtype != np.uint8 or h % 2 or w % 2:
        raise DataError(f"video_bytes: expected (T, H, W, 3) uint8 with even H, W; got {rgb.shape} {rgb.dtype}")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options=X264_OPTIONS | {"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for index, frame in enumerate(rgb):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = index  # explicit timestamps: the encoder's rate control reads them
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------
# PySKL pickles


def splits(index: SampleIndex) -> dict[str, list[str]]:
    """PySKL split lists: ``xsub_train``, ``xsub_val``, ``xview_train``, ``xview_val``."""
    return {
        f"{protocol}_{name}": [index.sample_id(i) for i in index.split(protocol, part)]
        for protocol in PROTOCOLS
        for name, part in (("train", "trainval"), ("val", "test"))  # the official protocol parts
    }


def annotations_3d(index: SampleIndex, skeleton: np.ndarray) -> list[dict]:
    """PySKL 3D entries: float16 ``keypoint`` (M, T, V, 3) in metres, as ``ntu60_3danno.pkl``."""
    return [
        {
            "frame_dir": index.sample_id(i),
            "label": int(index.label[i]),
            "total_frames": int(skeleton.shape[2]),
            "keypoint": np.asarray(skeleton[i], dtype=np.float16),
        }
        for i in range(len(index))
    ]


def annotations_2d(index: SampleIndex, pose2d: np.ndarray, size: int) -> list[dict]:
    """PySKL 2D entries: ``keypoint`` (M, T, V, 2) pixels, ``keypoint_score`` (M, T, V), image shapes."""
    return [
        {
            "frame_dir": index.sample_id(i),
            "label": int(index.label[i]),
            "total_frames": int(pose2d.shape[2]),
            "img_shape": (size, size),
            "original_shape": (size, size),
            "keypoint": np.asarray(pose2d[i, ..., :2], dtype=np.float32),
            "keypoint_score": np.asarray(pose2d[i, ..., 2], dtype=np.float32),
        }
        for i in range(len(index))
    ]


def pickle_bytes(index: SampleIndex, annotations: list[dict]) -> bytes:
    return pickle.dumps({"split": splits(index), "annotations": annotations}, protocol=PICKLE_PROTOCOL)


def info(cfg: SynthActConfig, index: SampleIndex, written: tuple[str, ...], fps: int) -> dict:
    cameras = make_cameras(cfg.size)
    return {
        "dataset": "synthact",
        "generator_version": GENERATOR_VERSION,
        "params": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "classes": [c.name for c in index.classes],
        "layout": LAYOUT,
        "joints": list(JOINTS),
        "written": list(written),
        "fps": fps,
        "depth_unit": "mm",
        "folders": {"skeleton": SKELETON_DIR, "depth": DEPTH_DIR, "rgb": RGB_DIR},
        "pickles": {"3d": PICKLE_3D, "2d": PICKLE_2D},
        "cameras": {str(n): {"intrinsics": c.intrinsics(), "extrinsics": c.extrinsics()} for n, c in cameras.items()},
        "kinect_intrinsics": {"depth": KINECT_DEPTH, "color": KINECT_COLOR},
        "splits": {"xsub": "odd subjects train, even subjects test; subjects above params.subjects validate", "xview": "cameras 2, 3 train; camera 1 tests"},
    }


# ------------------------------------------------------------------------------------------------
# the whole set


def write_synthact(
    out: str | Path,
    cfg: SynthActConfig,
    modalities: tuple[str, ...] = WRITABLE,
    cache_dir: str | Path | None = None,
    fps: int = FPS,
    progress=None,
) -> dict:
    """Generate (or load from cache) the set for ``cfg`` and write ``modalities`` under ``out``.

    Returns counts and seconds per format. ``progress(message)`` is called as each format starts.
    """
    unknown = [m for m in modalities if m not in WRITABLE]
    if unknown or not modalities:
        raise DataError(f"synthact writer: cannot write {unknown or 'nothing'}; choose from {', '.join(WRITABLE)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    start = time.perf_counter()
    images = tuple(m for m in ("rgb", "depth") if m in modalities)
    index, scene, arrays = load_arrays(cfg, ("skeleton", "pose2d", *images), cache_dir)
    report = {"samples": len(index), "generate_s": time.perf_counter() - start, "files": {}}
    ids = [index.sample_id(i) for i in range(len(index))]

    def timed(name: str, write) -> None:
        say(f"writing {name}")
        begin = time.perf_counter()
        report["files"][name] = write()
        report[f"{name}_s"] = time.perf_counter() - begin

    if "skeleton" in modalities:
        def write_skeletons() -> int:
            folder = out / SKELETON_DIR
            folder.mkdir(exist_ok=True)
            persons = scene.skeleton.shape[1]
            for i, name in enumerate(bar(ids, desc="writing skeleton", enabled=progress_enabled())):
                body_ids = [BODY_ID_BASE + 8 * i + m + 1 for m in range(persons)]
                text = skeleton_text(np.asarray(scene.skeleton[i], np.float64), np.asarray(scene.tracking[i]), body_ids)
                (folder / f"{name}.skeleton").write_text(text)
            (out / PICKLE_3D).write_bytes(pickle_bytes(index, annotations_3d(index, scene.skeleton)))
            return len(ids) + 1

        timed("skeleton", write_skeletons)
    if "pose2d" in modalities:
        def write_pose2d() -> int:
            (out / PICKLE_2D).write_bytes(pickle_bytes(index, annotations_2d(index, scene.pose2d, cfg.size)))
            return 1

        timed("pose2d", write_pose2d)
    if "depth" in modalities:
        def write_depth() -> int:
            for i, name in enumerate(bar(ids, desc="writing depth", enabled=progress_enabled())):
                write_depth_folder(out / DEPTH_DIR / name, np.asarray(arrays["depth"][i]))
            return len(ids) * cfg.frames

        timed("depth", write_depth)
    if "rgb" in modalities:
        def write_rgb() -> int:
            folder = out / RGB_DIR
            folder.mkdir(exist_ok=True)
            for i, name in enumerate(bar(ids, desc="writing rgb", enabled=progress_enabled())):
                (folder / f"{name}_rgb.mp4").write_bytes(video_bytes(np.asarray(arrays["rgb"][i]), fps))
            return len(ids)

        timed("rgb", write_rgb)
    (out / INFO_FILE).write_text(json.dumps(info(cfg, index, tuple(modalities), fps), indent=1, sort_keys=True) + "\n")
    report["seconds"] = time.perf_counter() - start
    return report
