"""Reading frames of a video file through a small backend interface: torchcodec, PyAV or decord.

A dataset's ``backend`` option picks one: ``auto`` (torchcodec where it loads, else PyAV),
``torchcodec``, ``pyav`` or ``decord``. torchcodec is PyTorch's maintained decoder (exact seeking);
PyAV installs everywhere; decord (no release since 2021, optional: ``pip install fusion-har[decord]``)
is kept for existing setups.

Never silently wrong (issue 16):

- When a video is opened, the frames the file holds (its packets, or torchcodec's scan) are compared
  with the container's header count and its duration x frame rate; a mismatch (e.g. a file cut in
  half: the header says 103 frames, 12 are left) is a :class:`DataError`.
- A read returns exactly the frames asked for. Random access (torchcodec, decord) is used only where
  the container has presentation timestamps (MP4, MKV, WebM, MOV...); AVI files are decoded
  sequentially with PyAV, because B-frames packed in AVI make both seekers return neighbouring frames
  (decord: frame 25 for 50; torchcodec: 49 for 50). torchcodec's timestamps are checked on every read,
  and a read that contradicts them falls back to sequential decoding.
- Decoding that stops before a wanted frame is a DataError, never a repeat of the last frame.

Only the video stream is ever opened, so files with and without audio read alike. Every failure of a
backend (missing file, corrupt or empty stream) becomes a DataError naming the file.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from fusion.data.limits import check_elements, regular_file
from fusion.errors import DataError, RecipeError

BACKENDS = ("auto", "torchcodec", "pyav", "decord")
#: Containers whose frames are addressed by presentation timestamps (random access is exact there).
SEEKABLE = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
#: Frames the header's count may differ from the file's (a dropped empty packet), and the same for
#: duration x frame rate (rounding of the last frame's duration).
COUNT_TOLERANCE = 1
DURATION_TOLERANCE = 2


class VideoReader(Protocol):
    """An opened video: its frame count and the frames at given indices."""

    path: Path
    num_frames: int

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices`` (0-based, any order, repeats allowed) as (len, H, W, 3) uint8 RGB."""


# ------------------------------------------------------------------------------------------------
# checks shared by the backends


def check_counts(path: Path, frames: int, header: int | None, duration_s: float | None, fps: float | None) -> None:
    """``frames`` (what the file holds) against the header's count, or without one its duration x frame rate.

    The duration check is only a fallback: a variable-frame-rate file (phones) holds fewer or more frames than
    its duration times the nominal rate (the real two-person test video: 72 frames, 2.567 s at a nominal
    30 fps, an average of 28.05), while a truncated file disagrees with its own header's count."""
    if frames <= 0:
        raise DataError(f"{path}: the video has no frames")
    if header and abs(header - frames) > COUNT_TOLERANCE:
        raise DataError(f"{path}: the header says {header} frames but the file holds {frames} "
                        "(truncated or damaged video); expected them to agree")
    if not header and duration_s and fps and abs(duration_s * fps - frames) > DURATION_TOLERANCE:
        raise DataError(f"{path}: the stream lasts {duration_s:.3f} s at {fps:.3g} fps ({duration_s * fps:.0f} frames) "
                        f"but the file holds {frames} frames (truncated or damaged video)")


def check_same_length(video: Path, frames: int, other: Path, other_frames: int) -> None:
    """A video and another recording of the same take (NTU: skeleton frames) must hold as many frames, within
    a few percent: a shorter video would otherwise be stretched over the other's frames."""
    if abs(frames - other_frames) > max(DURATION_TOLERANCE, 0.05 * max(frames, other_frames)):
        raise DataError(f"{video}: the video holds {frames} frames but {other} has {other_frames}; "
                        "expected the same take's recordings to agree (truncated video?)")


def check_frame_size(path: Path, width: int, height: int, count: int) -> None:
    """``count`` RGB frames of the size the stream declares (x2: the decoder's own copy) within the sample budget."""
    check_elements(2 * count * int(width or 0) * int(height or 0) * 3, 1, path,
                   f"{count} decoded frame(s) of {width}x{height}")


def _checked(video, indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise DataError(f"{video.path}: no frame indices to read (the video has {video.num_frames} frames); expected at least one")
    if indices.min() < 0 or indices.max() >= video.num_frames:
        raise DataError(f"{video.path}: frame indices {indices.min()}..{indices.max()} were asked for; expected indices in "
                        f"0..{video.num_frames - 1} (the video's frames)")
    return indices


def _first_line(exc: BaseException) -> str:
    """The exception's first line without a C++ source location (torchcodec: ``Class, file.cpp:41, message``)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    match = re.match(r"^\w+, \S+:\d+, (.+)$", line)
    return match.group(1) if match else line


def _gather(unique: np.ndarray, frames: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Frames for ``indices`` from the frames of their sorted unique values."""
    return frames[np.searchsorted(unique, indices)]


def pyav_counts(path: Path) -> tuple[int, int | None, float | None, float | None]:
    """(frames the file holds = non-empty video packets, header count, duration s, fps) with PyAV (no decoding)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: the file has no video stream")
            stream = container.streams.video[0]
            check_frame_size(path, stream.width, stream.height, 1)  # before the first frame is decoded
            frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
            duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
            fps = float(stream.average_rate) if stream.average_rate else None
            return frames, int(stream.frames) or None, duration, fps
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot open the video with PyAV: {_first_line(exc)}") from None


def sequential_read(path: Path, indices: np.ndarray, num_frames: int) -> np.ndarray:
    """Decode from the first frame up to the last wanted one with PyAV (exact in every container)."""
    import av

    unique = np.unique(indices)
    wanted, last = set(unique.tolist()), int(unique[-1])
    frames: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if decoded in wanted:
                    check_frame_size(path, frame.width, frame.height, len(unique))
                    frames[decoded] = frame.to_ndarray(format="rgb24")
                decoded += 1
                if decoded > last:
                    break
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: decoding failed with PyAV after {decoded} frame(s): {_first_line(exc)}") from None
    if decoded <= last:
        raise DataError(f"{path}: only {decoded} of the {num_frames} frames decode (frame {last} was asked for); "
                        "the video is truncated or damaged")
    return _gather(unique, np.stack([frames[i] for i in unique.tolist()]), indices)


# ------------------------------------------------------------------------------------------------
# backends


class TorchCodecVideo:
    """torchcodec ``VideoDecoder`` in exact seek mode (it scans the file once when opened), one FFmpeg thread."""

    def __init__(self, path: Path):
        from torchcodec.decoders import VideoDecoder

        self.path = path
        try:
            self._decoder = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode="exact")
            meta = self._decoder.metadata
        except Exception as exc:  # RuntimeError / ValueError from FFmpeg
            raise DataError(f"{path}: cannot open the video with torchcodec: {_first_line(exc)}") from None
        self.num_frames = int(meta.num_frames_from_content or 0)
        check_counts(path, self.num_frames, meta.num_frames_from_header, meta.duration_seconds_from_header,
                     meta.average_fps_from_header)
        self._width, self._height = meta.width or 0, meta.height or 0
        self.sequential = path.suffix.lower() not in SEEKABLE

    def read(self, indices: np.ndarray) -> np.ndarray:
        indices = _checked(self, indices)
        if self.sequential:
            return sequential_read(self.path, indices, self.num_frames)
        gaps = np.diff(indices)
        increasing = bool(np.all(gaps > 0))  # the usual case: no sort, no gather copy
        unique = indices if increasing else np.unique(indices)
        check_frame_size(self.path, self._width, self._height, len(unique))
        step = int(unique[1] - unique[0]) if len(unique) > 1 else 1
        contiguous = bool(np.all((gaps if increasing else np.diff(unique)) == step))
        try:
            if contiguous:  # all frames, a clip, a stride: one decoding run, no seeks
                batch = self._decoder.get_frames_in_range(int(unique[0]), int(unique[-1]) + 1, step)
            else:
                batch = self._decoder.get_frames_at(unique.tolist())
        except Exception as exc:
            raise DataError(f"{self.path}: decoding frames {unique.min()}..{unique.max()} failed with torchcodec: "
                            f"{_first_line(exc)}") from None
        if len(batch.data) != len(unique):
            raise DataError(f"{self.path}: torchcodec returned {len(batch.data)} frames for {len(unique)} asked for")
        if not contiguous:  # after seeks: the timestamps must follow the frame order, else decode in order
            pts = batch.pts_seconds.numpy()
            if len(pts) > 1 and np.any(np.diff(pts) <= 0):
                self.sequential = True
                return sequential_read(self.path, indices, self.num_frames)
        frames = batch.data.numpy()
        return frames if increasing else _gather(unique, frames, indices)


class PyAVVideo:
    """PyAV: frames are decoded in order up to the last wanted one (exact, no seeking)."""

    def __init__(self, path: Path):
        self.path = path
        self.num_frames, header, duration, fps = pyav_counts(path)
        check_counts(path, self.num_frames, header, duration, fps)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return sequential_read(self.path, _checked(self, indices), self.num_frames)


class DecordVideo:
    """decord ``VideoReader`` (video stream only), one decoding thread per reader; AVI is read sequentially."""

    def __init__(self, path: Path):
        import decord

        self.path = path
        frames, header, duration, fps = pyav_counts(path)  # decord cannot see the header's count
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
            self.num_frames = len(self._reader)
        except Exception as exc:  # decord raises DECORDError (a RuntimeError) for every failure
            raise DataError(f"{path}: cannot open the video with decord: {_first_line(exc)}") from None
        check_counts(path, self.num_frames, header or frames, duration, fps)
        self.sequential = path.suffix.lower() not in SEEKABLE

    def read(self, indices: np.ndarray) -> np.ndarray:
        indices = _checked(self, indices)
        if self.sequential:
            return sequential_read(self.path, indices, self.num_frames)
        unique = np.unique(indices)
        try:
            batch = self._reader.get_batch(unique.tolist())
        except Exception as exc:
            raise DataError(f"{self.path}: decoding frames failed with decord: {_first_line(exc)}") from None
        # decord.bridge may have been switched process-wide (pytorchvideo does this); accept any.
        frames = np.asarray(batch.asnumpy() if hasattr(batch, "asnumpy") else batch, dtype=np.uint8)
        return _gather(unique, frames, indices)


# ------------------------------------------------------------------------------------------------
# choosing a backend


def has_decord() -> bool:
    return importlib.util.find_spec("decord") is not None


@functools.lru_cache(maxsize=1)
def has_torchcodec() -> bool:
    """torchcodec is installed *and* finds its FFmpeg libraries (it needs a system FFmpeg 4 to 8)."""
    if importlib.util.find_spec("torchcodec") is None:
        return False
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads the FFmpeg libraries)
    except Exception:
        return False
    return True


def resolve_backend(backend: str) -> str:
    """``torchcodec``, ``pyav`` or ``decord`` for a dataset's ``backend`` option; ``auto`` prefers torchcodec."""
    if backend not in BACKENDS:
        raise RecipeError(f"data.dataset.args.backend: {backend!r} is not a video backend; choose one of "
                          f"{', '.join(BACKENDS)}")
    if backend == "auto":
        return "torchcodec" if has_torchcodec() else "pyav"
    if backend == "decord" and not has_decord():
        raise RecipeError("data.dataset.args.backend: decord is not installed (pip install fusion-har[decord]; "
                          "no wheel for this platform?); use backend: auto, torchcodec or pyav")
    if backend == "torchcodec" and not has_torchcodec():
        raise RecipeError("data.dataset.args.backend: torchcodec is not installed or cannot load FFmpeg's libraries "
                          "(it needs a system FFmpeg, e.g. apt install ffmpeg); use backend: auto or pyav")
    return backend


READERS = {"torchcodec": TorchCodecVideo, "pyav": PyAVVideo, "decord": DecordVideo}


def open_video(path: str | Path, backend: str = "auto") -> VideoReader:
    """Open ``path`` with the chosen backend; a missing, empty, truncated or corrupt file is a DataError."""
    path = Path(path)
    regular_file(path, "video file")  # missing: "video file not found"; a named pipe is refused, never opened
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the video file is empty (0 bytes)")
    return READERS[resolve_backend(backend)](path)
