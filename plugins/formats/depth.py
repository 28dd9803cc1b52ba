"""NTU masked-depth PNG folders, and depth maps turned into point clouds with camera intrinsics.

Layout: ``nturgb+d_depth_masked/<sample>/MDepth-%08d.png`` (1-based frame numbers; the full
depth set names them ``Depth-%08d.png``), 512x424 16-bit grayscale PNGs holding millimetres,
0 where there is no reading (the background in the masked set). Frames are read as uint16 (PIL);
an 8-bit or RGB PNG, or a frame of another size, is a DataError naming the file.

Focal-length conventions (NTU ships no calibration), chosen by the ``intrinsics`` option:

- ``ntu_p4`` (default; the P4Transformer / PSTNet family's ``depth2point4ntu120.py``):
  ``focal = 280`` px for both axes, principal point at the image centre (256, 212), and image
  axes kept: ``x = (u - W/2) / 280 * z``, ``y = (v - H/2) / 280 * z`` (y points down). Kinect v2's
  real depth focal is about 365 px, so these clouds are about 1.3x wider than metric and their
  y is flipped relative to the skeleton. Use it to match numbers reported with those methods.
  (Those scripts read the PNG with matplotlib, which scales by 1/65535; here z is in metres.)
- ``kinect_v2``: nominal Kinect v2 depth intrinsics, fx = fy = 365.5, (cx, cy) = (256, 212),
  y up as in the skeleton's camera space (``y = -(v - cy) / fy * z``): the cloud lines up with
  the ``.skeleton`` joints to within the device's own calibration error.
- a mapping ``{fx, fy, cx, cy, y_up}`` for anything else.

Pixel (row v, column u) is back-projected at its integer coordinates, as those scripts do.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fusion.data.limits import check_elements, max_sample_bytes, read_limited
from fusion.errors import DataError, RecipeError

#: NTU depth frame size (W, H).
NTU_DEPTH_SIZE = (512, 424)
DEPTH_FILE = re.compile(r"^M?Depth-(\d+)\.png$", re.IGNORECASE)
INTRINSICS: dict[str, dict] = {
    "ntu_p4": {"fx": 280.0, "fy": 280.0, "cx": 256.0, "cy": 212.0, "y_up": False},
    "kinect_v2": {"fx": 365.5, "fy": 365.5, "cx": 256.0, "cy": 212.0, "y_up": True},
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def resolve_intrinsics(value: str | Mapping) -> dict:
    """A preset name or a mapping with fx, fy, cx, cy (and optional y_up) → a plain dict."""
    if isinstance(value, str):
        if value not in INTRINSICS:
            raise RecipeError(f"data.dataset.args.intrinsics: unknown preset {value!r}; presets: "
                              f"{', '.join(INTRINSICS)}, or a mapping {{fx, fy, cx, cy, y_up}}")
        return dict(INTRINSICS[value])
    missing = {"fx", "fy", "cx", "cy"} - set(value)
    if missing:
        raise RecipeError(f"data.dataset.args.intrinsics: missing {', '.join(sorted(missing))}")
    return {k: float(value[k]) for k in ("fx", "fy", "cx", "cy")} | {"y_up": bool(value.get("y_up", False))}


def depth_frames(folder: Path) -> list[Path]:
    """The folder's depth PNGs ordered by frame number; a folder without any is a DataError."""
    try:
        entries = [(int(m.group(1)), p) for p in folder.iterdir() if (m := DEPTH_FILE.match(p.name))]
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the depth folder: {exc.strerror or exc}") from None
    if not entries:
        raise DataError(f"{folder}: no depth frames (expected MDepth-00000001.png, ...)")
    return [p for _, p in sorted(entries)]


def read_depth_png(path: Path, size: tuple[int, int] | None = NTU_DEPTH_SIZE) -> np.ndarray:
    """One frame as (H, W) uint16 millimetres; wrong bit depth, size or a broken file is a DataError.

    The header's width and height are checked (against ``size``, and against the sample budget)
    before any pixel is decoded, so a small PNG declaring a huge image is refused unread.
    """
    # Read into memory first: a named pipe is refused unread, and a chunk whose length field claims a
    # gigabyte makes PIL ask a file object for that many bytes (allocated up front), a BytesIO only what it holds.
    data = io.BytesIO(read_limited(path, max_sample_bytes(), "depth PNG"))
    try:
        with Image.open(data) as image:
            mode, image_size = image.mode, image.size
            if mode not in _SIXTEEN_BIT_MODES and mode != "I":
                raise DataError(f"{path}: depth PNG has mode {mode!r}, expected 16-bit grayscale millimetres "
                                f"(mode I;16)")
            if size is not None and tuple(image_size) != tuple(size):
                raise DataError(f"{path}: depth frame is {image_size[0]}x{image_size[1]}, expected {size[0]}x{size[1]}")
            check_elements(image_size[0] * image_size[1], 8, path, f"decoding a {image_size[0]}x{image_size[1]} depth PNG")
            array = np.asarray(image)
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode the depth PNG: {exc}") from None
    if array.ndim != 2 or array.shape != (image_size[1], image_size[0]):
        raise DataError(f"{path}: cannot decode the depth PNG: got pixel array {array.shape} for a "
                        f"{image_size[0]}x{image_size[1]} image")
    if mode == "I" and (array.min(initial=0) < 0 or array.max(initial=0) > 65535):
        raise DataError(f"{path}: depth PNG holds values outside 0..65535, expected uint16 millimetres")
    return array.astype(np.uint16, copy=False)


def read_depth_folder(folder: Path, indices: np.ndarray | None = None,
                      size: tuple[int, int] | None = NTU_DEPTH_SIZE) -> np.ndarray:
    """Frames ``indices`` (0-based into the sorted frames; all when None) as (T, H, W) uint16 mm."""
    files = depth_frames(folder)
    indices = np.arange(len(files)) if indices is None else np.asarray(indices)
    if size is not None:  # (frames, H, W) uint16 and its stacked copy, checked before the first decode
        check_elements(2 * len(indices) * size[0] * size[1], 2, folder, f"{len(indices)} depth frames of "
                       f"{size[0]}x{size[1]}")
    frames, total = {}, 0
    for i in np.unique(indices).tolist():
        frames[i] = read_depth_png(files[i], size)
        total += frames[i].nbytes
        check_elements(2 * total, 1, folder, f"{len(frames)} depth frames")  # any size: counted as decoded
    shapes = {a.shape for a in frames.values()}
    if len(shapes) > 1:
        raise DataError(f"{folder}: depth frames differ in size: {sorted(shapes)}")
    return np.stack([frames[i] for i in indices.tolist()])


def depth_to_points(depth_mm: np.ndarray, intrinsics: Mapping, num_points: int,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """(T, H, W) uint16 mm → (T, num_points, 3) float32 metres in the camera frame.

    Each frame keeps ``num_points`` pixels with a reading: a random subset in training (``rng``),
    evenly spaced ones in testing (``rng=None``). A frame with fewer valid pixels repeats them;
    one with none is all zeros (treated as padding by the point-cloud transforms).
    """
    t, h, w = depth_mm.shape
    flat = depth_mm.reshape(t, h * w)
    picks = np.zeros((t, num_points), dtype=np.int64)
    valid_frames = np.zeros(t, dtype=bool)
    for k in range(t):  # per frame, not per pixel: the choice needs each frame's valid set
        valid = np.flatnonzero(flat[k])
        if valid.size == 0:
            continue
        valid_frames[k] = True
        if valid.size >= num_points:
            chosen = (rng.choice(valid.size, num_points, replace=False) if rng is not None
                      else np.linspace(0, valid.size - 1, num_points).round().astype(np.int64))
        else:
            chosen = np.resize(rng.permutation(valid.size) if rng is not None else np.arange(valid.size), num_points)
        picks[k] = valid[chosen]
    z = np.take_along_axis(flat, picks, axis=1).astype(np.float32) / 1000.0
    u, v = (picks % w).astype(np.float32), (picks // w).astype(np.float32)
    y_sign = -1.0 if intrinsics.get("y_up", False) else 1.0
    xyz = np.stack([(u - intrinsics["cx"]) / intrinsics["fx"] * z,
                    y_sign * (v - intrinsics["cy"]) / intrinsics["fy"] * z, z], axis=-1)
    return np.where(valid_frames[:, None, None], xyz, 0.0).astype(np.float32)
