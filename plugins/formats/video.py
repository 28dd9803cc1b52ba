"""Reading frames of a video file through a small backend interface: decord or PyAV.

Why an interface: decord is fast at random access but has no wheels for macOS or Linux aarch64
and has not been released since 2021; PyAV installs everywhere. A dataset's ``backend`` option
picks one: ``auto`` (decord where importable, else PyAV), ``decord`` or ``pyav``.

Only the video stream is ever opened, so files with and without audio read alike. (decord's
``AVReader``, which pytorchvideo's decord path uses by default, decodes the whole audio track and
fails on silent files such as NTU's ``.avi``; ``decord.VideoReader`` used here does neither.)
Every failure of a backend (missing file, corrupt or empty stream) becomes a :class:`DataError`
naming the file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol

import numpy as np

from fusion.errors import DataError, RecipeError

BACKENDS = ("auto", "decord", "pyav")


class VideoReader(Protocol):
    """An opened video: its frame count and the frames at given indices."""

    path: Path
    num_frames: int

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices`` (0-based, any order, repeats allowed) as (len, H, W, 3) uint8 RGB."""


class DecordVideo:
    """decord ``VideoReader`` (video stream only), one decoding thread per reader."""

    def __init__(self, path: Path):
        import decord

        self.path = path
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
            self.num_frames = len(self._reader)
        except Exception as exc:  # decord raises DECORDError (a RuntimeError) for every failure
            raise DataError(f"{path}: cannot open the video with decord: {_first_line(exc)}") from None
        if self.num_frames <= 0:
            raise DataError(f"{path}: the video has no frames")

    def read(self, indices: np.ndarray) -> np.ndarray:
        indices = _checked(self, indices)
        try:
            batch = self._reader.get_batch(indices.tolist())
        except Exception as exc:
            raise DataError(f"{self.path}: decoding frames failed with decord: {_first_line(exc)}") from None
        # decord.bridge may have been switched process-wide (pytorchvideo does this); accept any.
        return np.asarray(batch.asnumpy() if hasattr(batch, "asnumpy") else batch, dtype=np.uint8)


class PyAVVideo:
    """PyAV: frames are decoded in order up to the last wanted one (exact, no seeking)."""

    def __init__(self, path: Path):
        import av

        self.path = path
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise DataError(f"{path}: the file has no video stream")
                stream = container.streams.video[0]
                self.num_frames = int(stream.frames) or sum(
                    1 for packet in container.demux(stream) if packet.size > 0
                )  # some containers (e.g. .avi written without an index) do not store the count
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: cannot open the video with PyAV: {_first_line(exc)}") from None
        if self.num_frames <= 0:
            raise DataError(f"{path}: the video has no frames")

    def read(self, indices: np.ndarray) -> np.ndarray:
        import av

        indices = _checked(self, indices)
        wanted = set(indices.tolist())
        last = max(wanted)
        frames: dict[int, np.ndarray] = {}
        decoded = 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    if decoded in wanted:
                        frames[decoded] = frame.to_ndarray(format="rgb24")
                    decoded += 1
                    if decoded > last:
                        break
        except Exception as exc:
            raise DataError(f"{self.path}: decoding failed with PyAV after {decoded} frame(s): "
                            f"{_first_line(exc)}") from None
        if not frames:
            raise DataError(f"{self.path}: no frame could be decoded (the header says {self.num_frames})")
        # The header's count may exceed what decodes; use the last decoded frame for the rest.
        latest = max(frames)
        return np.stack([frames.get(i, frames[latest]) for i in indices.tolist()])


def _checked(video, indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise DataError(f"{video.path}: no frame indices to read (the video has {video.num_frames} frames); expected at least one")
    if indices.min() < 0 or indices.max() >= video.num_frames:
        raise DataError(f"{video.path}: frame indices {indices.min()}..{indices.max()} were asked for; expected indices in "
                        f"0..{video.num_frames - 1} (the video's frames)")
    return indices


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def has_decord() -> bool:
    return importlib.util.find_spec("decord") is not None


def resolve_backend(backend: str) -> str:
    """``decord`` or ``pyav`` for a dataset's ``backend`` option; ``auto`` prefers decord."""
    if backend not in BACKENDS:
        raise RecipeError(f"data.dataset.args.backend: {backend!r} is not a video backend; choose one of "
                          f"{', '.join(BACKENDS)}")
    if backend == "auto":
        return "decord" if has_decord() else "pyav"
    if backend == "decord" and not has_decord():
        raise RecipeError("data.dataset.args.backend: decord is not installed (no wheel for this platform?); "
                          "use backend: pyav or auto")
    return backend


def open_video(path: str | Path, backend: str = "auto") -> VideoReader:
    """Open ``path`` with the chosen backend; a missing, empty or corrupt file is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the video file is empty (0 bytes)")
    return DecordVideo(path) if resolve_backend(backend) == "decord" else PyAVVideo(path)
