"""Small files that declare huge sizes, one per class, read under a 1 GiB address-space cap.

``python reader_bombs.py OUT [--all]`` writes every bomb (``--all``: the slow ones too) of :data:`BOMBS` under OUT, caps the address space
at its current size + 1 GiB, reads each with the reader that would meet it, and prints one JSON line
per bomb: the file size, the outcome (``error`` with the message, or what went wrong) and the growth
of the peak resident memory. Run by ``test_reader_limits.py``; every file is under 1 MB.
"""

from __future__ import annotations

import json
import pickle
import resource
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

GIB = 1 << 30


def _png(path: Path, width: int, height: int, rows: int | None = None) -> Path:
    """A 16-bit grayscale PNG of ``width`` x ``height`` whose IDAT holds ``rows`` zero rows (all by default),
    compressed as a stream: a real decompression bomb, written without holding the image in memory."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 2 * width)
    data = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def _npz_bomb(path: Path, elements: int) -> Path:
    """An .npz whose x_train is ``elements`` float32 zeros, deflated (a zip bomb)."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (1, elements // 150, 150)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("x_train.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            block = b"\x00" * (1 << 20)
            for _ in range(elements * 4 // len(block)):
                member.write(block)
        with archive.open("y_train.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(1, np.int64))
    return path


class Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def skeleton_frames(root: Path):
    path = root / "skeletons" / "S001C001P001R001A001.skeleton"
    path.parent.mkdir(parents=True)
    path.write_text("1000000000\n0\n")
    return path, lambda: _ntu(root)


def skeleton_long(root: Path):
    """490,000 frames of 0 bodies and one real frame: 1 MB, a (2, 490001, 25, 3) array."""
    from format_writers import skeleton_text, standing_body

    path = root / "skeletons" / "S001C001P001R001A001.skeleton"
    path.parent.mkdir(parents=True)
    one = skeleton_text([[(7, standing_body(1)[0])]]).splitlines()[1:]
    frames = 490_000
    path.write_text(f"{frames + 1}\n" + "0\n" * frames + "\n".join(one) + "\n")
    return path, lambda: _ntu(root)


def _ntu(root: Path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    dataset = NtuRgbd("all", benchmark=None, skeleton_dir=str(root / "skeletons"), missing="none", num_classes=60)
    return dataset[0]


def png_header(root: Path):
    folder = root / "depth" / "S001C001P001R001A001"
    folder.mkdir(parents=True)
    path = _png(folder / "MDepth-00000001.png", 60000, 60000, rows=2)
    return path, lambda: _depth(root)


def png_stream(root: Path):
    folder = root / "depth" / "S001C001P001R001A001"
    folder.mkdir(parents=True)
    path = _png(folder / "MDepth-00000001.png", 12000, 12000)
    return path, lambda: _depth(root)


def _depth(root: Path):
    from fusion_plugins.formats.ntu_dataset import NtuRgbd

    dataset = NtuRgbd("all", benchmark=None, depth_dir=str(root / "depth"), missing="none", num_classes=60,
                      modalities=["depth"], depth_size=None)
    return dataset[0]


def _pickle_case(name: str, payload: bytes):
    def make(root: Path):
        path = root / f"{name}.pkl"
        path.write_bytes(payload)

        def read():
            from fusion_plugins.formats.pyskl import PoseAnnotations

            return PoseAnnotations("all", str(path))

        return path, read

    return make


def npz_zip_bomb(root: Path):
    path = _npz_bomb(root / "NTU60_CS.npz", 150 * 700_000)  # 420 MB of zeros, about 400 kB deflated
    return path, lambda: _npz(path)


def npz_header(root: Path):
    path = root / "NTU60_CS.npz"
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("x_train.npy", "w") as member:
            header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
            header["shape"] = (10**6, 300, 150)
            np.lib.format.write_array_header_1_0(member, header)
            member.write(b"\x00" * 600)
        with archive.open("y_train.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(1, np.int64))
    return path, lambda: _npz(path)


def _npz(path: Path):
    from fusion_plugins.formats.stgcn import CtrgcnNpz

    return CtrgcnNpz("train", str(path))


def json_deep(root: Path):
    path = root / "a01_s01_e01_v01.json"
    path.write_text('{"skeletons": ' + "[" * 200_000 + "]" * 200_000 + "}")
    return path, lambda: _ucla(root)


def json_digits(root: Path):
    path = root / "a01_s01_e01_v01.json"
    path.write_text('{"skeletons": [[[' + "9" * 100_000 + ", 1, 2]]]}")
    return path, lambda: _ucla(root)


def _ucla(root: Path):
    from fusion_plugins.formats.nwucla import NwUcla

    return NwUcla("all", str(root))[0]


def kinetics_label(root: Path):
    (root / "kinetics_train").mkdir()
    path = root / "kinetics_train_label.json"
    path.write_text(json.dumps({"v": {"has_skeleton": True, "label": "x", "label_index": 10**12}}))

    def read():
        from fusion_plugins.formats.kinetics import KineticsSkeleton

        return KineticsSkeleton("train", str(root), num_classes=None)

    return path, read


def kinetics_frames(root: Path):
    (root / "kinetics_train").mkdir()
    (root / "kinetics_train_label.json").write_text(json.dumps({"v": {"label_index": 0}}))
    path = root / "kinetics_train" / "v.json"
    path.write_text(json.dumps({"data": [{"frame_index": 10**6, "skeleton": []}]}))

    def read():
        from fusion_plugins.formats.kinetics import KineticsSkeleton

        return KineticsSkeleton("train", str(root), max_frames=10**7, num_classes=1)[0]

    return path, read


def pku_lines(root: Path):
    """A label interval of 10**9 frames over a 1-frame sequence."""
    (root / "skeleton").mkdir()
    (root / "label").mkdir()
    (root / "skeleton" / "0002-M.txt").write_text(" ".join(["1"] * 150) + "\n")
    path = root / "label" / "0002-M.txt"
    path.write_text("1,0,1000000000,1\n")

    def read():
        from fusion_plugins.formats.pkummd import PkuMmd

        return PkuMmd("all", str(root / "skeleton"), str(root / "label"))[0]

    return path, read


def yaml_laughs(root: Path):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, 10):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}" if k > 1 else "*a"] * 9) + "]")
    path = root / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, lambda: _recipe(path)


def yaml_deep(root: Path):
    path = root / "deep.yaml"
    path.write_text("a:\n" + "".join("  " * k + "- \n" for k in range(1, 100)) + "  " * 100 + "- " + "[" * 10_000
                    + "]" * 10_000 + "\n")
    return path, lambda: _recipe(path)


def _recipe(path: Path):
    from fusion.recipe import load_recipe

    return load_recipe(path)


BOMBS = {
    "skeleton declaring 10**9 frames": skeleton_frames,
    "skeleton of 490,001 frames (1 MB)": skeleton_long,
    "PNG header of 60000x60000": png_header,
    "PNG of 12000x12000 zeros (decompression bomb)": png_stream,
    "pickle bytearray(10**12)": _pickle_case("bytearray", pickle.dumps(Reduce(bytearray, (10**12,)))),
    "pickle list(range(10**12))": _pickle_case("range", pickle.dumps(Reduce(list, (range(10**12),)))),
    "pickle ndarray((10**6, 10**6))": _pickle_case("ndarray", pickle.dumps(Reduce(np.ndarray, ((10**6, 10**6),)))),
    "pickle BINBYTES of 4 GB": _pickle_case("binbytes", b"\x80\x04B\xff\xff\xff\xf0" + b"\x00" * 64),
    "pickle LONG_BINPUT 4G": _pickle_case("memo", b"\x80\x04N\x72\xff\xff\xff\xf0."),
    "npz zip bomb (420 MB deflated)": npz_zip_bomb,
    "npz header declaring 45 G elements": npz_header,
    "JSON nested 200,000 deep": json_deep,
    "JSON integer of 100,000 digits": json_digits,
    "Kinetics label_index 10**12": kinetics_label,
    "Kinetics max_frames 10**7": kinetics_frames,
    "PKU-MMD interval of 10**9 frames": pku_lines,
    "YAML billion laughs": yaml_laughs,
    "YAML nested 10,000 deep": yaml_deep,
}


#: Bombs that take seconds to write (hundreds of MB compressed): only in the slow test.
SLOW = frozenset({"PNG of 12000x12000 zeros (decompression bomb)", "npz zip bomb (420 MB deflated)"})


def main(out: Path, everything: bool) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
    import fusion_plugins.formats.plugin  # noqa: F401  (imports before the cap)
    from fusion.errors import FusionError
    from fusion.recipe import load_recipe  # noqa: F401

    made = {}
    for name, make in BOMBS.items():
        if name in SLOW and not everything:
            continue
        root = out / str(len(made))
        root.mkdir(parents=True)
        made[name] = make(root)
    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size + GIB, size + GIB))
    for name, (path, read) in made.items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        row = {"bomb": name, "bytes": path.stat().st_size, "path": str(path)}
        try:
            read()
            row["outcome"] = "accepted"
        except MemoryError:
            row["outcome"] = "memory"
        except FusionError as exc:
            row.update(outcome="error", message=str(exc))
        except Exception as exc:  # noqa: BLE001
            row.update(outcome="bug", message=f"{type(exc).__name__}: {exc}"[:300])
        row["peak_growth"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--all" in sys.argv[2:])
