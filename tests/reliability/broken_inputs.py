"""A generated set of broken inputs: a tiny valid NTU-layout folder plus one broken file per fault.

``write_broken_ntu(root)`` writes skeleton, RGB and depth folders of 6 good training samples, 4 good
test samples and one training sample per entry of :data:`NTU_FAULTS` (its other files good), and
returns a recipe dict that trains on them in seconds. ``write_broken_pickles(root)`` writes one
PySKL pickle per entry of :data:`PICKLE_FAULTS`. Each fault names the pattern its message must match.

The module is also a plugin (``plugins: [broken_inputs]``): ``tiny_clip`` encoders for RGB and
depth, so the recipe trains all three modalities without a video backbone.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from fusion import EncoderSpec, Features, hookimpl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
from format_writers import (  # noqa: E402
    one_body_frames,
    pyskl_annotations,
    ramp_video,
    skeleton_text,
    write_depth_folder,
    write_pickle,
    write_video,
)

FRAMES = 4
IMAGE = 16  # video frames are IMAGE x IMAGE
DEPTH_W, DEPTH_H = 16, 12
CLASSES = 4


def ntu_name(subject: int, action: int, replication: int = 1) -> str:
    return f"S001C001P{subject:03d}R{replication:03d}A{action:03d}"


# ------------------------------------------------------------------------------------------------
# one writer per fault: (folder of the modality, sample name) -> the broken file


def _good_skeleton_text() -> str:
    return skeleton_text(one_body_frames(FRAMES))


def truncated_skeleton(path: Path) -> None:
    text = _good_skeleton_text()
    path.write_text(text[: len(text) // 2])


def garbage_skeleton(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes())


def wrong_joint_count(path: Path) -> None:
    path.write_text(skeleton_text(one_body_frames(FRAMES), joints=20))


def _replace_value(path: Path, value: str) -> None:
    lines = _good_skeleton_text().splitlines()
    row = lines[5].split()  # the 3rd joint of frame 1: frame count, body count, body line, joint count, 2 joints
    row[1] = value
    lines[5] = " ".join(row)
    path.write_text("\n".join(lines) + "\n")


def nan_skeleton(path: Path) -> None:
    _replace_value(path, "nan")


def inf_skeleton(path: Path) -> None:
    _replace_value(path, "inf")


def empty_video(path: Path) -> None:
    path.write_bytes(b"")


def garbage_video(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def truncated_video(path: Path) -> None:
    write_video(path, ramp_video(FRAMES, IMAGE, IMAGE))
    path.write_bytes(path.read_bytes()[:400])  # the container header only, no frame


def audio_only_video(path: Path) -> None:
    import av

    with av.open(str(path), "w") as container:
        sound = container.add_stream("mp2", rate=16000)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 4608), np.float32), format="fltp", layout="mono")
        chunk.sample_rate = 16000
        for packet in [*sound.encode(chunk), *sound.encode()]:
            container.mux(packet)


def depth_wrong_size(folder: Path) -> None:
    write_depth_folder(folder, np.full((FRAMES, DEPTH_H * 2, DEPTH_W * 2), 2500, np.uint16))


def depth_wrong_dtype(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(1, FRAMES + 1):
        Image.fromarray(np.full((DEPTH_H, DEPTH_W), 200, np.uint8)).save(folder / f"MDepth-{t:08d}.png")


def depth_corrupt_png(folder: Path) -> None:
    write_good_depth(folder)
    (folder / "MDepth-00000002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


# fault name -> (modality it breaks, writer, action of the sample, pattern the message must match)
NTU_FAULTS = {
    "truncated skeleton": ("skeleton", truncated_skeleton, 1, r"truncated: expected|line \d+: expected"),
    "garbage skeleton": ("skeleton", garbage_skeleton, 2, r"not a text file"),
    "wrong joint count": ("skeleton", wrong_joint_count, 3, r"expected 25 joints for frame 1, body 1, got 20"),
    "NaN coordinate": ("skeleton", nan_skeleton, 4, r"line 6: expected finite joint values.*'-?[0-9.]+ nan "),
    "inf coordinate": ("skeleton", inf_skeleton, 1, r"line 6: expected finite joint values.*'-?[0-9.]+ inf "),
    "empty video": ("rgb", empty_video, 2, r"the video file is empty \(0 bytes\)"),
    "garbage video": ("rgb", garbage_video, 3, r"cannot open the video with PyAV: .*Invalid data"),
    "truncated video": ("rgb", truncated_video, 4, r"cannot open the video with PyAV: .*Invalid data"),
    "audio-only video": ("rgb", audio_only_video, 4, r"the file has no video stream"),
    "depth PNG of wrong size": ("depth", depth_wrong_size, 1, r"depth frame is 32x24, expected 16x12"),
    "depth PNG of wrong dtype": ("depth", depth_wrong_dtype, 2, r"mode 'L', expected 16-bit"),
    "corrupt depth PNG": ("depth", depth_corrupt_png, 3, r"MDepth-00000002\.png: cannot decode the depth PNG"),
    "label out of range": (None, None, 9, r"has label 8, outside 0\.\.3"),
}


# ------------------------------------------------------------------------------------------------
# the folder


def write_good_depth(folder: Path) -> None:
    depth = np.zeros((FRAMES, DEPTH_H, DEPTH_W), np.uint16)
    depth[:, 3:9, 5:11] = 2500
    write_depth_folder(folder, depth)


def write_good_sample(dirs: dict[str, Path], name: str, action: int) -> None:
    (dirs["skeleton"] / f"{name}.skeleton").write_text(skeleton_text(one_body_frames(FRAMES, seed=action)))
    frames = ramp_video(FRAMES, IMAGE, IMAGE)
    write_video(dirs["rgb"] / f"{name}_rgb.avi", frames)
    write_good_depth(dirs["depth"] / name)


def sample_file(dirs: dict[str, Path], modality: str, name: str) -> Path:
    return {"skeleton": dirs["skeleton"] / f"{name}.skeleton", "rgb": dirs["rgb"] / f"{name}_rgb.avi",
            "depth": dirs["depth"] / name}[modality]


def write_broken_ntu(root: Path, faults: list[str] | None = None) -> tuple[dict, dict[str, str]]:
    """The folders under ``root`` and a recipe dict; also ``{fault: sample name}`` of the broken samples."""
    dirs = {m: root / d for m, d in (("skeleton", "skeletons"), ("rgb", "rgb"), ("depth", "depth_masked"))}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    for k in range(6):  # training subjects 1 and 2 (cross-subject)
        write_good_sample(dirs, ntu_name(1 + k // 4, 1 + k % 4), 1 + k % 4)
    for k in range(4):  # test subject 3
        write_good_sample(dirs, ntu_name(3, 1 + k), 1 + k)
    broken = {}
    for replication, fault in enumerate(faults or NTU_FAULTS, 2):
        modality, writer, action, _ = NTU_FAULTS[fault]
        name = ntu_name(1, action, replication)
        write_good_sample(dirs, name, min(action, CLASSES))
        if writer is not None:
            target = sample_file(dirs, modality, name)
            if target.is_dir():
                for png in target.iterdir():
                    png.unlink()
            writer(target)
        broken[fault] = name
    return ntu_recipe(dirs), broken


def ntu_recipe(dirs: dict[str, Path]) -> dict:
    return {
        "name": "broken_ntu",
        "plugins": ["broken_inputs", "toy_plugin"],
        "data": {
            "dataset": {"name": "ntu", "args": {
                "benchmark": None, "num_classes": CLASSES, "missing": "none", "protocol": "xsub",
                "skeleton_dir": str(dirs["skeleton"]), "rgb_dir": str(dirs["rgb"]), "depth_dir": str(dirs["depth"]),
                "modalities": ["skeleton", "rgb", "depth"], "num_frames": FRAMES, "backend": "pyav",
                "depth_size": [DEPTH_W, DEPTH_H],
            }},
            "modalities": ["skeleton", "rgb", "depth"],
        },
        "model": {"num_classes": CLASSES, "encoders": {
            "skeleton": {"name": "toy_mlp", "args": {"joints": 25, "dim": 8}},
            "rgb": {"name": "tiny_clip_rgb", "args": {"dim": 8}},
            "depth": {"name": "tiny_clip_depth", "args": {"dim": 8}},
        }},
        "train": {"epochs": 2, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.01}, "log_every": 1},
        "eval": {"batch_size": 8},
    }


# ------------------------------------------------------------------------------------------------
# pickles: faults of the whole file fail when the dataset is built; NaN values when a sample is read


def _pickle_missing_key(path: Path) -> None:
    annotations = pyskl_annotations(["S001C001P001R001A001", "S001C001P003R001A002"])
    del annotations[1]["keypoint"]
    write_pickle(path, {"split": {"xsub_train": ["S001C001P001R001A001"], "xsub_val": ["S001C001P003R001A002"]},
                        "annotations": annotations})


def _pickle_label_range(path: Path) -> None:
    annotations = pyskl_annotations(["S001C001P001R001A001", "S001C001P003R001A002"])
    annotations[0]["label"] = 7
    write_pickle(path, {"split": {"xsub_train": ["S001C001P001R001A001"], "xsub_val": ["S001C001P003R001A002"]},
                        "annotations": annotations})


def _pickle_nan(path: Path) -> None:
    annotations = pyskl_annotations(["S001C001P001R001A001", "S001C001P003R001A002"])
    annotations[0]["keypoint"][0, 1, 2, 0] = np.nan
    write_pickle(path, {"split": {"xsub_train": ["S001C001P001R001A001"], "xsub_val": ["S001C001P003R001A002"]},
                        "annotations": annotations})


def _pickle_truncated(path: Path) -> None:
    _pickle_missing_key(path)
    path.write_bytes(path.read_bytes()[:40])


def _pickle_code(path: Path) -> None:
    path.write_bytes(pickle.dumps({"annotations": [Exploit()]}))


class Exploit:
    """Unpickling this would run ``print``; the safe loader must refuse the global."""

    def __reduce__(self):
        return (print, ("this must never run",))


PICKLE_FAULTS = {
    "pickle with a missing key": (_pickle_missing_key, r"annotation 1 \('S001C001P003R001A002'\) has no 'keypoint' key"),
    "pickle label out of range": (_pickle_label_range, r"has label 7, expected 0\.\.3"),
    "pickle with NaN keypoints": (_pickle_nan, r"keypoint has 1 NaN/inf"),
    "truncated pickle": (_pickle_truncated, r"\.pkl.*(truncated|corrupt|cannot)"),
    "pickle that runs code": (_pickle_code, r"\.pkl.*(refus|not allowed|forbidden)"),
}


def write_broken_pickle(root: Path, fault: str) -> dict:
    """One broken pickle and a recipe dict for it (one class per sample, toy encoder)."""
    path = root / (fault.replace(" ", "_") + ".pkl")
    PICKLE_FAULTS[fault][0](path)
    return {
        "name": "broken_pickle",
        "plugins": ["toy_plugin"],
        "data": {"dataset": {"name": "pose_pickle", "args": {"path": str(path), "protocol": "xsub", "num_classes": CLASSES}},
                 "modalities": ["skeleton"]},
        "model": {"num_classes": CLASSES, "encoders": {"skeleton": {"name": "toy_mlp", "args": {"joints": 25, "dim": 8}}}},
        "train": {"epochs": 1, "batch_size": 2, "optimizer": {"name": "sgd", "lr": 0.01}},
    }


# ------------------------------------------------------------------------------------------------
# the plugin: a pooled linear encoder for (B, C, T, H, W) clips


class TinyClip(nn.Module):
    """Spatial mean, then a linear layer per frame: enough to train on RGB or depth in milliseconds."""

    def __init__(self, in_channels: int = 3, dim: int = 8):
        super().__init__()
        self.proj = nn.Linear(in_channels, dim)
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> Features:
        frames = self.proj(x.float().mean((3, 4)).transpose(1, 2))  # (B, T, dim)
        return Features(pooled=frames.mean(1), frames=frames)


def _tiny_depth(dim: int = 8) -> TinyClip:
    return TinyClip(1, dim)


@hookimpl
def fusion_add_encoders():
    provides = frozenset({"pooled", "frames"})
    return [
        EncoderSpec(name="tiny_clip_rgb", factory=TinyClip, modality="rgb", provides=provides, doc="Test RGB encoder."),
        EncoderSpec(name="tiny_clip_depth", factory=_tiny_depth, modality="depth", provides=provides,
                    doc="Test depth encoder."),
    ]
