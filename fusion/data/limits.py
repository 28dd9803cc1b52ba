"""The memory budget every reader checks before it allocates, and reading files that cannot hang.

A data file declares sizes (a frame count, an image's width and height, an array's shape, a label)
and a reader allocates from them; a 1 kB file that declares 10**9 frames must not make Fusion ask
for gigabytes. Every reader therefore compares what it is about to allocate for one sample with
one budget, ``FUSION_MAX_SAMPLE_MB`` (environment variable, MiB, default 256), and raises a
:class:`DataError` naming the file and both numbers. Files read whole (text, JSON) are refused
above a fraction of the budget, since parsing them costs several times their size.

Files are opened non-blocking and checked to be regular files before reading, so a named pipe or a
device given as a data file is refused instead of read forever.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from contextvars import ContextVar

from fusion.errors import DataError

#: Default of ``FUSION_MAX_SAMPLE_MB``: the most one sample's arrays may take, in MiB.
DEFAULT_MAX_SAMPLE_MB = 256
ENV = "FUSION_MAX_SAMPLE_MB"
#: Parsing text costs up to this many bytes of Python objects per byte of file (tokens, lists).
TEXT_EXPANSION = 16
#: Most classes a dataset may declare or imply (a label of 10**9 would size the classifier).
MAX_CLASSES = 100_000


def max_sample_bytes() -> int:
    """The budget in bytes, read from ``FUSION_MAX_SAMPLE_MB`` on every call (so workers and tests see changes),
    raised to the floor of an enclosing :func:`budget_at_least`."""
    raw = os.environ.get(ENV)
    if raw in (None, ""):
        return max(DEFAULT_MAX_SAMPLE_MB * 2**20, _FLOOR.get())
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{ENV}={raw!r}: expected a number of MiB, e.g. {DEFAULT_MAX_SAMPLE_MB}") from None
    if not value > 0:
        raise DataError(f"{ENV}={raw!r}: expected a positive number of MiB")
    return max(int(value * 2**20), _FLOOR.get())


_FLOOR: ContextVar[int] = ContextVar("fusion_sample_budget_floor", default=0)


@contextlib.contextmanager
def budget_at_least(nbytes: int) -> Iterator[None]:
    """Within the block the budget is at least ``nbytes``: one user file read whole for ``fusion predict`` (a
    3-second 1080p video decodes to 450 MB), where a training sample among thousands gets the default."""
    token = _FLOOR.set(max(_FLOOR.get(), int(nbytes)))
    try:
        yield
    finally:
        _FLOOR.reset(token)


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB" if nbytes < 2**40 else f"{nbytes:.3g} bytes"


def check_alloc(nbytes: float, source: str | os.PathLike, what: str) -> None:
    """Refuse to allocate ``nbytes`` for ``what`` of ``source`` when it exceeds the sample budget."""
    budget = max_sample_bytes()
    if nbytes > budget:
        raise DataError(f"{source}: {what} would take {_mib(nbytes)}, above the sample budget of {_mib(budget)} "
                        f"(raise {ENV} if the file is genuine)")


def check_elements(count: float, itemsize: int, source: str | os.PathLike, what: str) -> None:
    """``check_alloc`` for ``count`` elements of ``itemsize`` bytes (Python ints, so no overflow)."""
    check_alloc(float(count) * itemsize, source, what)


def check_classes(count: int, source: str | os.PathLike) -> None:
    """A class count (or largest label + 1) above :data:`MAX_CLASSES` is a corrupt label, not a dataset."""
    if count > MAX_CLASSES:
        raise DataError(f"{source}: label {count - 1} implies {count} classes, above the limit of {MAX_CLASSES} "
                        f"(a corrupt label?)")


def regular_file(path: str | os.PathLike, what: str = "file") -> os.stat_result:
    """``os.stat`` of ``path`` if it is a regular file; a missing file, a directory or a pipe is a DataError."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise DataError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a named pipe" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise DataError(f"{path}: expected a regular {what}, got {kind}")
    return info


def read_limited(path: str | os.PathLike, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of regular file ``path``; more than ``limit`` bytes (default: the budget) is a DataError.

    The file is opened non-blocking and checked with ``fstat`` before anything is read, so a named
    pipe swapped in after a check still cannot block; at most ``limit + 1`` bytes are read even when
    the size the file system reports is wrong (``/proc`` files say 0).
    """
    limit = max_sample_bytes() if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: expected a regular {what}, got a directory") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise DataError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            regular_file(path, what)  # names the kind
            raise DataError(f"{path}: expected a regular {what}")
        if info.st_size > limit:
            raise DataError(f"{path}: {what} is {_mib(info.st_size)}, above the limit of {_mib(limit)} for reading "
                            f"it whole (raise {ENV} if the file is genuine)")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise DataError(f"{path}: {what} is larger than the limit of {_mib(limit)} for reading it whole")
    return b"".join(chunks)


def text_limit() -> int:
    """Most bytes of a text file read whole: the budget over :data:`TEXT_EXPANSION`."""
    return max_sample_bytes() // TEXT_EXPANSION


def read_limited_text(path: str | os.PathLike, what: str = "file", limit: int | None = None) -> str:
    """UTF-8 text (a BOM is dropped) of a regular file within :func:`text_limit`; binary is a DataError."""
    data = read_limited(path, text_limit() if limit is None else limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None


__all__ = ["DEFAULT_MAX_SAMPLE_MB", "ENV", "MAX_CLASSES", "budget_at_least", "check_alloc", "check_classes", "check_elements",
           "max_sample_bytes", "read_limited", "read_limited_text", "regular_file", "text_limit"]
