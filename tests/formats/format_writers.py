"""Small writers of each real format, for fixtures in tmp_path (written from the format specs)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import av
import numpy as np
from PIL import Image

BODY_ID = 72057594037931101  # above 2**53, as in the real files


def body_rows(xyz: np.ndarray, state: int = 2) -> np.ndarray:
    """(25, 12) joint rows from (25, 3) camera-space xyz: projections, a unit quaternion, a state."""
    z = np.maximum(xyz[:, 2:3], 0.5)
    depth_xy = np.concatenate([256 + 365.5 * xyz[:, :1] / z, 212 - 365.5 * xyz[:, 1:2] / z], axis=1)
    color_xy = np.concatenate([960 + 1081.4 * xyz[:, :1] / z, 540 - 1081.4 * xyz[:, 1:2] / z], axis=1)
    quaternion = np.tile([1.0, 0.0, 0.0, 0.0], (25, 1))
    return np.concatenate([xyz, depth_xy, color_xy, quaternion, np.full((25, 1), state)], axis=1)


def standing_body(frames: int, amplitude: float = 0.1, x: float = 0.0, seed: int = 0) -> np.ndarray:
    """(T, 25, 3) a body spread more vertically than horizontally, waving with ``amplitude`` metres."""
    rng = np.random.default_rng(seed)
    base = np.stack([x + rng.uniform(-0.2, 0.2, 25), np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], axis=1)
    wave = amplitude * np.sin(np.linspace(0, 2 * np.pi, frames))[:, None, None] * np.array([1.0, 0.5, 0.2])
    return (base[None] + wave).astype(np.float64)


def skeleton_text(frames: list[list[tuple[int, np.ndarray]]], newline: str = "\n", joints: int = 25) -> str:
    """NTU ``.skeleton`` text; ``frames[t]`` lists ``(body_id, (25, 3) xyz)`` per tracked body."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.02764709 0.05745083 2")
            lines.append(str(joints))
            rows = body_rows(xyz)[:joints]
            lines.extend(" ".join(f"{v:.7g}" for v in row) for row in rows)
    return newline.join(lines) + newline


def write_skeleton(path: Path, frames: list[list[tuple[int, np.ndarray]]], **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(skeleton_text(frames, **kwargs), newline="")
    return path


def one_body_frames(frames: int, amplitude: float = 0.1, body_id: int = BODY_ID, seed: int = 0):
    xyz = standing_body(frames, amplitude, seed=seed)
    return [[(body_id, xyz[t])] for t in range(frames)]


def write_video(path: Path, frames: np.ndarray, audio: bool = False, fps: int = 30) -> Path:
    """Encode (T, H, W, 3) uint8 with PyAV (MPEG-4 part 2), optionally with a mono audio track."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        sound = container.add_stream("mp2", rate=16000) if audio else None  # every stream before muxing
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            wave = (0.3 * np.sin(np.arange(16000 * t // fps) / 5.0)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            chunk.sample_rate = 16000
            for packet in [*sound.encode(chunk), *sound.encode()]:
                container.mux(packet)
    return path


def ramp_video(frames: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Frames whose brightness encodes the frame index (20 * t), to check which frames were read."""
    return np.broadcast_to((np.arange(frames) * 20 % 250).astype(np.uint8)[:, None, None, None],
                           (frames, h, w, 3)).copy()


def write_depth_folder(folder: Path, depth: np.ndarray, prefix: str = "MDepth") -> Path:
    """(T, H, W) uint16 mm → ``folder/MDepth-%08d.png`` (1-based)."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(depth, 1):
        Image.fromarray(frame).save(folder / f"{prefix}-{t:08d}.png")
    return folder


def blob_depth(frames: int, h: int = 424, w: int = 512) -> np.ndarray:
    """A person-sized blob of 2500 mm on a 0 background, as in the masked set."""
    depth = np.zeros((frames, h, w), dtype=np.uint16)
    depth[:, h // 4: 3 * h // 4, w // 2 - 40: w // 2 + 40] = 2500
    return depth


def write_pickle(path: Path, obj, protocol: int = 4) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def pyskl_annotations(names: list[str], two_d: bool = False, frames: int = 6, persons: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        label = int(name[-3:]) - 1
        entry = {"frame_dir": name, "label": label, "total_frames": frames}
        if two_d:
            entry["keypoint"] = rng.uniform(0, 1000, (persons, frames, 17, 2)).astype(np.float16)
            entry["keypoint_score"] = rng.uniform(0, 1, (persons, frames, 17)).astype(np.float16)
            entry["img_shape"] = entry["original_shape"] = (1080, 1920)
        else:
            entry["keypoint"] = rng.normal(0, 1, (persons, frames, 25, 3)).astype(np.float16)
        out.append(entry)
    return out


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def kinetics_frame(index: int, people: list[tuple[float, float]]) -> dict:
    """One frame; each person is (x offset, score) with all 18 joints at that x and score."""
    return {"frame_index": index, "skeleton": [
        {"pose": [v for _ in range(18) for v in (x, 0.4)], "score": [score] * 18} for x, score in people]}


def pku_sequence_text(frames: int, persons: int = 1) -> str:
    """``frames`` lines of 150 values; value = frame index + joint/100 for the first person, zeros else."""
    rows = np.zeros((frames, 2, 25, 3))
    rows[:, :persons] = np.arange(frames)[:, None, None, None] + np.arange(25)[None, None, :, None] / 100
    return "\n".join(" ".join(f"{v:g}" for v in row.ravel()) for row in rows) + "\n"
