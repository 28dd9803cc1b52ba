"""The NTU RGB+D ``.skeleton`` text format (Kinect v2): a strict parser.

Grammar (one value group per line, whitespace separated; LF or CRLF; trailing spaces allowed)::

    <num_frames>
    per frame:   <num_bodies>                       (0 is allowed: nothing follows for that frame)
      per body:  <bodyID> <clipedEdges> <handLeftConfidence> <handLeftState> <handRightConfidence>
                 <handRightState> <isResticted> <leanX> <leanY> <trackingState>      (10 tokens)
                 <num_joints>                       (25)
                 per joint: x y z depthX depthY colorX colorY orientW orientX orientY orientZ state

Why two passes: the structure (counts, token numbers) is walked line by line so that an error can
name the file, the line and what was expected; the numbers, 97% of the file, are then converted by
numpy in one call. Body IDs are parsed as Python ints: they exceed 2^53 (e.g. 72057594037931101),
and a float parse would merge different people.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusion.errors import DataError
from fusion_plugins.formats.common import read_text

NTU_JOINTS = 25
BODY_TOKENS = 10
JOINT_TOKENS = 12
#: Columns of a joint row.
JOINT_FIELDS = ("x", "y", "z", "depth_x", "depth_y", "color_x", "color_y",
                "orient_w", "orient_x", "orient_y", "orient_z", "state")  # fmt: skip
XYZ = slice(0, 3)
DEPTH_XY = slice(3, 5)
COLOR_XY = slice(5, 7)
STATE = 11
#: Frame sizes the depthX/Y and colorX/Y columns refer to, (W, H).
DEPTH_SIZE = (512, 424)
COLOR_SIZE = (1920, 1080)


@dataclass
class BodyTrack:
    """One tracked body (one body ID): the frames it appears in and its joint rows there."""

    body_id: int
    frames: np.ndarray  # (n,) int64, 0-based frame indices, increasing
    joints: np.ndarray  # (n, V, 12) float32, columns as JOINT_FIELDS


@dataclass
class SkeletonFile:
    path: Path
    num_frames: int
    tracks: list[BodyTrack]  # in order of first appearance
    bodies_per_frame: np.ndarray  # (T,) int


class _Lines:
    """The file's lines with error messages that say where and what."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()

    def __len__(self) -> int:
        return len(self.lines)

    def error(self, index: int, expected: str, got: str | None = None) -> DataError:
        if index >= len(self.lines):
            return DataError(f"{self.path}: truncated: expected {expected} at line {index + 1}, "
                             f"but the file has only {len(self.lines)} lines")
        got = got if got is not None else repr(self.lines[index].strip()[:80])
        return DataError(f"{self.path}, line {index + 1}: expected {expected}, got {got}")

    def tokens(self, index: int, expected: str) -> list[str]:
        if index >= len(self.lines):
            raise self.error(index, expected)
        return self.lines[index].split()

    def integer(self, index: int, expected: str) -> int:
        tokens = self.tokens(index, expected)
        if len(tokens) != 1:
            raise self.error(index, expected)
        try:
            return int(tokens[0])
        except ValueError:
            raise self.error(index, expected) from None


def read_skeleton(path: str | Path, num_joints: int = NTU_JOINTS) -> SkeletonFile:
    """Parse a ``.skeleton`` file; any deviation from the grammar is a DataError naming file and line."""
    path = Path(path)
    lines = _Lines(path, read_text(path))
    if not len(lines):
        raise DataError(f"{path}: the file is empty; expected the frame count on line 1")
    num_frames = lines.integer(0, "the frame count (one integer)")
    if num_frames <= 0:
        raise lines.error(0, "a positive frame count", str(num_frames))
    if num_frames > len(lines) - 1:  # every frame takes a line at least: checked before allocating per frame
        raise DataError(f"{path}: truncated or corrupt: line 1 declares {num_frames} frames but the file has only "
                        f"{len(lines) - 1} more line(s)")
    cursor = 1
    body_ids: list[int] = []
    body_frames: list[int] = []
    joint_starts: list[int] = []
    bodies_per_frame = np.zeros(num_frames, dtype=np.int64)
    for frame in range(num_frames):
        count = lines.integer(cursor, f"the body count of frame {frame + 1} (one integer)")
        if not 0 <= count <= 6:
            raise lines.error(cursor, f"a body count of frame {frame + 1} between 0 and 6", str(count))
        bodies_per_frame[frame] = count
        cursor += 1
        seen: set[int] = set()
        for body in range(count):
            where = f"frame {frame + 1}, body {body + 1}"
            tokens = lines.tokens(cursor, f"the {BODY_TOKENS}-value body line of {where}")
            if len(tokens) != BODY_TOKENS:
                raise lines.error(cursor, f"the {BODY_TOKENS}-value body line of {where}", f"{len(tokens)} values")
            try:
                body_id = int(tokens[0])
            except ValueError:
                raise lines.error(cursor, f"an integer body ID in the body line of {where}", repr(tokens[0])) from None
            if body_id in seen:
                raise lines.error(cursor, f"distinct body IDs within frame {frame + 1}", f"ID {body_id} twice")
            seen.add(body_id)
            joints = lines.integer(cursor + 1, f"the joint count of {where}")
            if joints != num_joints:
                raise lines.error(cursor + 1, f"{num_joints} joints for {where}", str(joints))
            body_ids.append(body_id)
            body_frames.append(frame)
            joint_starts.append(cursor + 2)
            cursor += 2 + num_joints
            if cursor > len(lines):
                raise lines.error(len(lines), f"{num_joints} joint lines for {where} (lines {cursor - num_joints + 1}"
                                              f"-{cursor})")
    if cursor != len(lines):
        raise lines.error(cursor, f"the end of the file after {num_frames} frames",
                          f"{len(lines) - cursor} more line(s), starting {lines.lines[cursor].strip()[:40]!r}")
    rows = _parse_joint_rows(lines, joint_starts, num_joints)
    return SkeletonFile(path, num_frames, _group_tracks(body_ids, body_frames, rows), bodies_per_frame)


def _parse_joint_rows(lines: _Lines, starts: list[int], num_joints: int) -> np.ndarray:
    """All joint rows as (bodies, V, 12) float32, converted by numpy in one call."""
    if not starts:
        return np.zeros((0, num_joints, JOINT_TOKENS), dtype=np.float32)
    text = lines.lines
    table = [text[i].split() for s in starts for i in range(s, s + num_joints)]
    try:
        array = np.array(table, dtype=np.float32)  # ragged rows or non-numbers raise
    except ValueError:
        _raise_bad_joint_row(lines, starts, num_joints)
        raise  # pragma: no cover - _raise_bad_joint_row always raises
    if array.ndim != 2 or array.shape[1] != JOINT_TOKENS:
        _raise_bad_joint_row(lines, starts, num_joints)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        line = starts[row // num_joints] + row % num_joints
        raise lines.error(line, "finite joint values (no NaN/inf)", f"{int((~finite).sum())} such row(s), "
                                f"this one {lines.lines[line].strip()[:80]!r}")
    return array.reshape(len(starts), num_joints, JOINT_TOKENS)


def _raise_bad_joint_row(lines: _Lines, starts: list[int], num_joints: int) -> None:
    """The slow path, only on bad input: find the first joint line that is not 12 numbers."""
    for s in starts:
        for i in range(s, s + num_joints):
            tokens = lines.lines[i].split()
            expected = f"{JOINT_TOKENS} numbers on joint line {i - s + 1} (x y z depthX depthY colorX colorY " \
                       f"orientW orientX orientY orientZ state)"
            if len(tokens) != JOINT_TOKENS:
                raise lines.error(i, expected, f"{len(tokens)} values")
            try:
                [float(t) for t in tokens]
            except ValueError:
                raise lines.error(i, expected) from None
    raise DataError(f"{lines.path}: joint values could not be parsed")  # pragma: no cover


def _group_tracks(body_ids: list[int], frames: list[int], rows: np.ndarray) -> list[BodyTrack]:
    positions: dict[int, list[int]] = {}
    for k, body_id in enumerate(body_ids):
        positions.setdefault(body_id, []).append(k)
    frame_array = np.asarray(frames, dtype=np.int64)
    return [BodyTrack(body_id, frame_array[ks], rows[ks]) for body_id, ks in positions.items()]
