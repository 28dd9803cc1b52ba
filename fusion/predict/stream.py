"""A sliding window over a live source: one prediction per ``stride`` frames, smoothed over windows.

A source yields frames one at a time: a video file decoded frame by frame (as a camera would
deliver them), a camera index (``/dev/videoN`` through PyAV), or a skeleton file whose frames are
replayed. Each window of the last ``window`` frames goes through the run's test pipeline
(:class:`~fusion.predict.predictor.Predictor`); the reported label is the mean of the last
``smooth`` windows' probabilities. Every window's time is split into decode, pose, transform, model.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion.errors import DataError, first_line
from fusion.predict.inputs import POSE_MODALITIES, input_format_for, pose_estimator, pose_targets, read_inputs
from fusion.predict.predictor import Predictor

#: Modalities whose frames are on axis 1 (persons first); the others have frames on axis 0.
PERSON_FIRST = ("skeleton", "pose2d")


@dataclass
class WindowResult:
    end_frame: int
    probabilities: np.ndarray
    smoothed: np.ndarray
    seconds: dict[str, float]

    @property
    def latency(self) -> float:
        return sum(self.seconds.values())


def frames_of(registry, source: str, predictor: Predictor) -> Iterator[tuple[dict, float]]:
    """(one-frame sample, seconds spent decoding it) from a video, a camera index or a replayed file."""
    if source.isdigit():
        yield from _av_frames(f"/dev/video{source}", "v4l2")
        return
    spec = input_format_for(registry, source)
    if "rgb" in spec.modalities:  # a video: decoded frame by frame, as a camera delivers them
        yield from _av_frames(source, None)
        return
    [sample] = read_inputs(registry, [source], None, predictor.max_bodies, predictor.points)[:1]
    length = next(v.shape[1] if k in PERSON_FIRST else v.shape[0] for k, v in sample.items()
                  if k not in ("label", "meta") and v is not None)
    share = sample["meta"]["seconds"]["decode"] / max(length, 1)
    for t in range(length):
        frame = {k: (v[:, t:t + 1] if k in PERSON_FIRST else v[t:t + 1]) for k, v in sample.items()
                 if k not in ("label", "meta") and v is not None}
        yield {**frame, "meta": sample["meta"]}, share


def _av_frames(path: str, fmt: str | None) -> Iterator[tuple[dict, float]]:
    import av

    try:
        container = av.open(path, format=fmt)
    except Exception as exc:
        raise DataError(f"{path}: cannot open the stream ({first_line(exc)})") from None
    with container:
        decoder = container.decode(video=0)
        while True:
            start = time.perf_counter()
            try:
                frame = next(decoder).to_ndarray(format="rgb24")
            except StopIteration:
                return
            yield {"rgb": frame[None], "meta": {"id": Path(path).stem, "source": path}}, time.perf_counter() - start


#: Frames an overlay of a stream keeps (one minute at 30 fps, downscaled to 640 px wide).
OVERLAY_FRAMES = 1800


def _for_overlay(frame: dict, meta: dict) -> dict:
    """A captured frame for drawing: RGB downscaled to at most 640 px wide, pixel joints scaled with it."""
    kept = dict(frame)
    if kept.get("rgb") is not None:
        step = max(1, -(-kept["rgb"].shape[2] // 640))
        kept["rgb"] = kept["rgb"][:, ::step, ::step]
        pixel_keys = ["pose2d"] + (["skeleton"] if meta.get("skeleton_pixels") else [])
        for key in pixel_keys:
            if kept.get(key) is not None:
                kept[key] = kept[key].copy()
                kept[key][..., :2] /= step
    return kept


def stream(predictor: Predictor, source: str, window: int, stride: int, smooth: int = 4,
           estimator_name: str | None = None, pose_model: str | None = None,
           keep: list | None = None) -> Iterator[WindowResult]:
    """Predict every ``stride`` frames on the last ``window`` frames of ``source`` (see the module doc).

    ``keep``: a list that receives the first :data:`OVERLAY_FRAMES` frames (downscaled) for an overlay.
    """
    registry = predictor.registry
    is_video = source.isdigit() or "rgb" in input_format_for(registry, source).modalities
    estimator = None
    if is_video and any(m in predictor.modalities for m in POSE_MODALITIES):
        estimator = pose_estimator(registry, estimator_name, predictor.pose_layout(), predictor.max_bodies, pose_model)
    buffer: deque[dict] = deque(maxlen=window)
    history: deque[np.ndarray] = deque(maxlen=smooth)
    spent = {"decode": 0.0, "pose": 0.0}
    meta: dict = {}
    for count, (frame, decode_seconds) in enumerate(frames_of(registry, source, predictor), start=1):
        spent["decode"] += decode_seconds
        meta = frame.pop("meta")
        targets = pose_targets(predictor.modalities, frame) if estimator is not None else []
        if targets:
            start = time.perf_counter()
            pose, info = estimator(frame["rgb"])
            frame.update({key: pose for key in targets})
            spent["pose"] += time.perf_counter() - start
            meta = {**meta, "layout": info["layout"], "bones": info.get("bones", []),
                    "skeleton_pixels": "skeleton" in targets,
                    "img_shape": frame["rgb"].shape[1:3], "image_size": frame["rgb"].shape[2:0:-1]}
        if keep is not None and len(keep) < OVERLAY_FRAMES:
            keep.append(_for_overlay(frame, meta))
            keep[-1]["meta"] = meta
        if "rgb" not in predictor.modalities:
            frame.pop("rgb", None)  # keep only what the model reads: 1080p frames are large
        buffer.append(frame)
        if len(buffer) < window or (count - window) % stride:
            continue
        start = time.perf_counter()  # assembling the window is part of the transform stage
        sample = {k: np.concatenate([f[k] for f in buffer], axis=1 if k in PERSON_FIRST else 0) for k in buffer[0]}
        sample.update(label=-1, meta={**meta, "id": f"{meta.get('id', 'stream')}@{count}"})
        assemble = time.perf_counter() - start
        [prediction] = predictor([sample])
        history.append(prediction.probabilities)
        seconds = {**spent, **prediction.seconds}
        seconds["transform"] = seconds.get("transform", 0.0) + assemble
        spent = {"decode": 0.0, "pose": 0.0}
        yield WindowResult(count, prediction.probabilities, np.mean(history, axis=0), seconds)
