"""A seeded mutator: valid files in, hostile variants out (the practice of Pillow's and FFmpeg's fuzzers).

Three families, each drawn from a ``numpy`` generator so that a case is replayed by its seed:

- text (``.skeleton``, PKU-MMD ``.txt``, JSON, YAML): byte flips, truncation, inserted / deleted /
  swapped lines, numbers replaced by huge, negative, zero, NaN, fractional or hex values, integer
  counts off by one or times 1000, CRLF line ends, a BOM, trailing whitespace, a duplicated file;
- binary (PNG, pickle, ``.npy``, ``.npz``): bit flips, overwritten / inserted / zeroed runs, truncation,
  a duplicated chunk, 4-byte fields set to 0xFFFFFFFF / 0x7FFFFFFF, and for PNGs a header declaring a
  huge image with a valid CRC (a decompression bomb);
- tree (a parsed JSON value or unpickled object): a leaf or container swapped for a value of the
  wrong type (bool, float, string, None, a 10**30 integer, NaN, a deep list, an object array, an
  empty array), or a key deleted.

Every mutator returns ``(new bytes or object, the name of the mutation)``.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable

import numpy as np

NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
HOSTILE_NUMBERS = [b"1e999", b"-1e999", b"99999999999999999999999", b"-1", b"0", b"nan", b"inf", b"-0", b"2.5",
                   b"4294967296", b"1e308", b"0x1f", b"1_000", b"", b"9" * 5000]


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


# ------------------------------------------------------------------------------------------------ text


def flip_bytes(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        if out:
            out[int(rng.integers(len(out)))] = int(rng.integers(256))
    return bytes(out)


def truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(len(data) + 1))]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def insert_line(data: bytes, rng) -> bytes:
    lines = _lines(data)
    new = _pick(rng, [_pick(rng, lines), b"", b"0", b"1", b"25", b"garbage line", b" ".join([b"1.0"] * 12),
                      b"\x00\xff\xfe", b"-1", b"1e999"])
    lines.insert(int(rng.integers(len(lines) + 1)), new)
    return b"\n".join(lines)


def delete_line(data: bytes, rng) -> bytes:
    lines = _lines(data)
    if len(lines) > 1:
        del lines[int(rng.integers(len(lines)))]
    return b"\n".join(lines)


def swap_lines(data: bytes, rng) -> bytes:
    lines = _lines(data)
    i, j = rng.integers(len(lines), size=2)
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def hostile_number(data: bytes, rng) -> bytes:
    numbers = list(NUMBER.finditer(data))
    if not numbers:
        return flip_bytes(data, rng)
    m = _pick(rng, numbers)
    return data[: m.start()] + _pick(rng, HOSTILE_NUMBERS) + data[m.end():]


def wrong_count(data: bytes, rng) -> bytes:
    """An integer (a frame, body, joint or label count) off by one, doubled, times 1000 or negated."""
    integers = [m for m in re.finditer(rb"(?<![\d.])\d+(?![\d.])", data)]
    if not integers:
        return hostile_number(data, rng)
    m = _pick(rng, integers[:200] if rng.random() < 0.7 else integers)  # counts sit near the start
    value = int(m.group())
    new = _pick(rng, [value + 1, value - 1, value * 2, value * 1000 + 7, -value, 10**12])
    return data[: m.start()] + str(new).encode() + data[m.end():]


def crlf(data: bytes, rng) -> bytes:
    return data.replace(b"\n", b"\r\n")


def bom(data: bytes, rng) -> bytes:
    return b"\xef\xbb\xbf" + data


def trailing_space(data: bytes, rng) -> bytes:
    return b"\n".join(line + _pick(rng, [b" ", b"\t", b"  \t"]) for line in _lines(data))


def doubled(data: bytes, rng) -> bytes:
    return data + data


TEXT: dict[str, Callable] = {
    "byte flips": flip_bytes, "truncation": truncate, "inserted line": insert_line, "deleted line": delete_line,
    "swapped lines": swap_lines, "huge or odd number": hostile_number, "wrong count": wrong_count, "CRLF": crlf,
    "BOM": bom, "trailing whitespace": trailing_space, "doubled file": doubled,
}  # fmt: skip


# ------------------------------------------------------------------------------------------------ binary


def overwrite_run(data: bytes, rng) -> bytes:
    if not data:
        return data
    start = int(rng.integers(len(data)))
    run = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    return data[:start] + run + data[start + len(run):]


def insert_bytes(data: bytes, rng) -> bytes:
    at = int(rng.integers(len(data) + 1))
    return data[:at] + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes() + data[at:]


def zero_run(data: bytes, rng) -> bytes:
    if not data:
        return data
    start = int(rng.integers(len(data)))
    length = int(rng.integers(1, 256))
    return data[:start] + b"\x00" * min(length, len(data) - start) + data[start + length:]


def huge_field(data: bytes, rng) -> bytes:
    """A 4- or 8-byte field (a length, a dimension, a count) set to a huge value."""
    if len(data) < 8:
        return data + b"\xff" * 8
    at = int(rng.integers(len(data) - 8))
    value = _pick(rng, [b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80",
                        b"\xff" * 8])
    return data[:at] + value + data[at + len(value):]


def duplicate_chunk(data: bytes, rng) -> bytes:
    if not data:
        return data
    start = int(rng.integers(len(data)))
    chunk = data[start: start + int(rng.integers(1, 512))]
    return data[:start] + chunk + data[start:]


BINARY: dict[str, Callable] = {
    "bit flips": flip_bytes, "truncation": truncate, "overwritten run": overwrite_run, "inserted bytes": insert_bytes,
    "zeroed run": zero_run, "huge field": huge_field, "duplicated chunk": duplicate_chunk,
}  # fmt: skip


def png_bomb(data: bytes, rng) -> bytes:
    """The IHDR of a PNG set to a huge width and height, its CRC fixed so the header parses."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return huge_field(data, rng)
    width, height = _pick(rng, [(60000, 60000), (2**31 - 1, 1), (1, 2**31 - 1), (20000, 20000), (100000, 3)])
    body = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:8] + data[8:12] + body + struct.pack(">I", zlib.crc32(body)) + data[33:]


# ------------------------------------------------------------------------------------------------ trees


def wrong_values(rng) -> list:
    return [True, False, 1.5, "3", "", None, 10**30, -1, -(10**30), float("nan"), float("inf"), [], {}, [[[[]]]],
            np.array([1, 2], dtype=object), np.zeros((0, 0, 0, 3), np.float32), np.zeros((1, 2, 3), bool),
            np.array(["a"]), np.float64(2.0), np.bool_(True), 2**63, "x" * 1000]


def _paths(obj, prefix=()):
    """Every (path, value) of a nested dict/list (numpy arrays are leaves)."""
    yield prefix, obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, (list, tuple)) and len(obj) < 64:
        for k, value in enumerate(obj):
            yield from _paths(value, (*prefix, k))
    elif isinstance(obj, (list, tuple)):
        for k in (0, len(obj) - 1):
            yield from _paths(obj[k], (*prefix, k))


def _set(obj, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _set(obj[head], rest, value)}
    items = list(obj)
    items[head] = _set(items[head], rest, value)
    return type(obj)(items) if isinstance(obj, tuple) else items


def _delete(obj, path):
    head, rest = path[0], path[1:]
    if rest:
        return _set(obj, path[:-1], _delete(_get(obj, path[:-1]), path[-1:]))
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != head}
    items = [v for k, v in enumerate(obj) if k != head]
    return type(obj)(items) if isinstance(obj, tuple) else items


def _get(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def mutate_tree(obj, rng, json_only: bool = False):
    """``obj`` with one value replaced by a wrong one, an array reshaped or a key deleted."""
    paths = [p for p, _ in _paths(obj) if p]
    if not paths:
        return obj, "no change"
    path = _pick(rng, paths)
    value = _get(obj, path)
    choice = rng.random()
    if choice < 0.15:
        return _delete(obj, path), f"deleted {path[-1]!r}"
    if isinstance(value, np.ndarray) and choice < 0.55:
        shapes = [value.reshape(-1), value[:0], value[..., :1], np.concatenate([value, value], axis=-1) if value.ndim
                  else value, value.astype(object), value.astype(np.float64) * 1e300, value.astype(bool)]
        return _set(obj, path, _pick(rng, shapes)), "array of wrong shape or type"
    pool = wrong_values(rng)
    if json_only:
        pool = [v for v in pool if not isinstance(v, (np.ndarray, np.generic)) and not (
            isinstance(v, float) and not np.isfinite(v))]
    return _set(obj, path, _pick(rng, pool)), "value of the wrong type"
