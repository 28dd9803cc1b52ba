"""``--overlay``: the input drawn frame by frame with its joints, bones and predicted label, as MP4 (or GIF).

Videos are drawn on (downscaled to at most 640 px wide); skeleton-only inputs are drawn on a
blank canvas from their x, y (image y down for 2D poses, up for 3D camera coordinates). Bones
come from ``meta["bones"]`` (the input format or pose estimator sets them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = [(255, 80, 80), (80, 160, 255), (90, 220, 90), (250, 200, 60)]
MAX_WIDTH = 640


def _joints(sample: dict) -> tuple[np.ndarray | None, bool]:
    """(M, T, V, 2+) joints to draw and whether they are image pixels (2D pose) rather than 3D metres."""
    if sample.get("pose2d") is not None:
        return np.asarray(sample["pose2d"], np.float32), True
    if sample.get("skeleton") is not None:  # 3D metres, or pixels where a pose estimator filled it
        return np.asarray(sample["skeleton"], np.float32), bool((sample.get("meta") or {}).get("skeleton_pixels"))
    return None, False


def _canvas_points(joints: np.ndarray, size: int = 360) -> np.ndarray:
    """3D joints → canvas pixels: x right, y up, fitted to the occupied extent of every frame."""
    xy = joints[..., :2] * np.array([1.0, -1.0], np.float32)
    valid = np.abs(joints[..., :3]).sum(-1) > 0
    lo, hi = xy[valid].min(0), xy[valid].max(0)
    scale = 0.8 * size / max(float((hi - lo).max()), 1e-6)
    return (xy - (lo + hi) / 2) * scale + size / 2


def render_frames(sample: dict, labels: list[str]) -> list[Image.Image]:
    """One PIL image per input frame; ``labels[t]`` is written on frame t."""
    joints, pixels = _joints(sample)
    bones = [tuple(b) for b in (sample.get("meta") or {}).get("bones") or []]
    rgb = sample.get("rgb")
    frames = len(rgb) if rgb is not None else joints.shape[1]
    scale, points = 1.0, None
    if rgb is not None:
        scale = min(1.0, MAX_WIDTH / rgb.shape[2])
    if joints is not None:
        points = joints[..., :2] * scale if pixels else _canvas_points(joints)
    images = []
    for t in range(frames):
        if rgb is not None:
            image = Image.fromarray(rgb[t])
            if scale < 1.0:
                image = image.resize((round(rgb.shape[2] * scale), round(rgb.shape[1] * scale)))
        else:
            image = Image.new("RGB", (360, 360), (20, 20, 20))
        draw = ImageDraw.Draw(image)
        if points is not None and t < points.shape[1]:
            for m in range(points.shape[0]):
                seen = (joints[m, t, :, -1] > 0) if pixels else (np.abs(joints[m, t, :, :3]).sum(-1) > 0)
                colour = COLOURS[m % len(COLOURS)]
                for a, b in bones:
                    if seen[a] and seen[b]:
                        draw.line([tuple(points[m, t, a]), tuple(points[m, t, b])], fill=colour, width=2)
                for v in np.flatnonzero(seen):
                    x, y = points[m, t, v]
                    draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        label = labels[min(t, len(labels) - 1)] if labels else ""
        draw.rectangle([0, 0, image.width, 18], fill=(0, 0, 0))
        draw.text((4, 3), label, fill=(255, 255, 255))
        images.append(image)
    return images


def write_overlay(out: Path, sample: dict, windows: list, fmt: str = "mp4", fps: float = 15.0) -> Path:
    """Write ``out/ID.mp4`` (or ``.gif``); ``windows`` is ``[(end_frame or None, Prediction)]`` in order."""
    n = len(sample["rgb"]) if sample.get("rgb") is not None else _joints(sample)[0].shape[1]
    labels = []
    for t in range(n):  # the latest window ending at or before frame t labels it
        current = None
        for end, prediction in windows:
            if end is None or end <= t + 1:
                current = prediction
        labels.append("waiting for the first full window" if current is None else
                      "{} {:.2f}".format(*current.top(1)[0]))
    images = render_frames(sample, labels)
    stem = str((sample.get("meta") or {}).get("id", "input")).replace("/", "_").replace("[", "_").replace("]", "")
    path = Path(out) / f"{stem}.{fmt}"
    if fmt == "gif":
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        return path
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=round(fps))
        video.width, video.height = images[0].width // 2 * 2, images[0].height // 2 * 2
        video.pix_fmt = "yuv420p"
        for image in images:
            frame = av.VideoFrame.from_image(image.crop((0, 0, video.width, video.height)))
            container.mux(video.encode(frame))
        container.mux(video.encode())
    return path
