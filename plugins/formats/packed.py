"""Packed skeleton datasets: one split's samples in one memory-mapped array file per modality.

``fusion data pack RECIPE --out DIR`` reads every sample of a split through the recipe's reader (the
readers stay the source of truth) and writes ``DIR/<split>/``:

- ``<modality>.bin``: every sample's array, flat and back to back, in ``float32`` or ``float16``; large
  arrays of ``meta`` (SynthAct's ``skeleton_gt``) likewise in ``meta.<key>.bin``, in their own dtype;
- ``index.npz`` (no pickle): per sample ``ids``, ``labels``, and per file ``<name>_offsets`` (elements),
  ``<name>_shapes`` and ``<name>_crc32`` (of the stored bytes);
- ``meta.jsonl``: the rest of each sample's ``meta`` dict (small arrays kept as arrays);
- ``pack.json``: format version, dtype, class names, where it came from, and the SHA-256 of every file.

The ``packed`` dataset maps the files read-only (``np.memmap``): a sample is a view into the page cache,
so data-loader workers share one copy instead of each holding the unpickled dataset. A sample's CRC is
checked when it is read; a file shorter than the index says, or a damaged index, is a DataError naming
the file when the dataset is built; ``fusion data check`` also compares the SHA-256 of every file.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fusion.errors import DataError, RecipeError
from fusion_plugins.formats.common import FormatDataset, SampleInfo

FORMAT = "fusion-packed-skeleton"
VERSION = 1
PACKABLE = ("skeleton", "pose2d")
DTYPES = ("float32", "float16")


# ------------------------------------------------------------------------------------------------
# writing


def _encode_meta(value):
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _encode_meta(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_meta(v) for v in value]
    return value


def _decode_meta(value):
    if isinstance(value, dict):
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        return {k: _decode_meta(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_meta(v) for v in value]
    return value


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _sample_id(dataset, index: int) -> str:
    finder = getattr(dataset, "sample_id", None)
    if callable(finder):
        return str(finder(index))
    infos = getattr(dataset, "infos", None)
    return str(infos[index].id) if infos is not None else str(index)


#: Meta arrays larger than this (SynthAct's ``skeleton_gt``) are packed like modalities, not as JSON.
META_ARRAY_ELEMENTS = 256


class _Stream:
    """One ``<name>.bin`` file being written: arrays back to back, with offsets, shapes and CRCs."""

    def __init__(self, folder: Path, name: str, dtype, ndim: int):
        self.name, self.dtype, self.ndim = name, np.dtype(dtype), ndim
        self.file = open(folder / f"{name}.bin", "wb")  # noqa: SIM115 - closed by close()
        self.offsets, self.shapes, self.crcs, self.elements = [], [], [], 0

    def add(self, array: np.ndarray, where: str) -> None:
        if array.ndim != self.ndim:
            raise DataError(f"{where}: {self.name} has {array.ndim} dimensions, the first sample had {self.ndim}; "
                            "cannot pack arrays of different rank into one file")
        stored = np.ascontiguousarray(array, dtype=self.dtype)
        self.file.write(stored.tobytes())
        self.offsets.append(self.elements)
        self.shapes.append(stored.shape)
        self.crcs.append(zlib.crc32(stored))
        self.elements += stored.size

    def close(self) -> None:
        self.file.close()

    def index(self) -> dict:
        return {f"{self.name}_offsets": np.array(self.offsets, dtype=np.int64),
                f"{self.name}_shapes": np.array(self.shapes, dtype=np.int64).reshape(-1, self.ndim),
                f"{self.name}_crc32": np.array(self.crcs, dtype=np.uint32)}


def write_pack(dataset, out: Path, modalities: list[str], dtype: str = "float32", source: dict | None = None,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Pack every sample of ``dataset`` (a reader's split) into ``out``; returns pack.json's content."""
    if dtype not in DTYPES:
        raise RecipeError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    unknown = [m for m in modalities if m not in PACKABLE]
    if unknown or not modalities:
        raise RecipeError(f"fusion data pack: modalities {unknown or modalities} cannot be packed; expected some of "
                          f"{', '.join(PACKABLE)} (arrays of (M, T, V, C))")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    streams: dict[str, _Stream] = {}
    ids, labels, big_meta = [], [], None
    try:
        with open(out / "meta.jsonl", "w") as meta_file:
            for index in range(len(dataset)):
                sample = dataset[index]
                sample_id = _sample_id(dataset, index)
                where = f"sample {sample_id}"
                for modality in modalities:
                    array = sample.get(modality)
                    if not isinstance(array, np.ndarray) or array.ndim != 4:
                        raise DataError(f"{where}: {modality} is {type(array).__name__} "
                                        f"{getattr(array, 'shape', '')}; expected an array (M, T, V, C) to pack")
                    if dtype == "float16" and np.abs(array).max(initial=0) > np.finfo(np.float16).max:
                        raise DataError(f"{where}: {modality} overflows float16 (max |x| = "
                                        f"{np.abs(array).max():.3g}); pack with --dtype float32")
                    if modality not in streams:
                        streams[modality] = _Stream(out, modality, dtype, 4)
                    streams[modality].add(array, where)
                meta = dict(sample.get("meta") or {})
                if big_meta is None:  # decided on the first sample, kept for all
                    big_meta = [k for k, v in meta.items() if isinstance(v, np.ndarray) and v.size > META_ARRAY_ELEMENTS]
                    for key in big_meta:
                        streams[f"meta.{key}"] = _Stream(out, f"meta.{key}", meta[key].dtype, meta[key].ndim)
                for key in big_meta:
                    if not isinstance(meta.get(key), np.ndarray):
                        raise DataError(f"{where}: meta[{key!r}] is {type(meta.get(key)).__name__}, the first sample's "
                                        "was an array; cannot pack meta that changes type")
                    streams[f"meta.{key}"].add(meta.pop(key), where)
                ids.append(sample_id)
                labels.append(int(sample["label"]))
                meta_file.write(json.dumps(_encode_meta(meta)) + "\n")
                if progress is not None:
                    progress(index + 1, len(dataset))
    finally:
        for stream in streams.values():
            stream.close()
    arrays = {"ids": np.array(ids, dtype=str), "labels": np.array(labels, dtype=np.int64)}
    for stream in streams.values():
        arrays.update(stream.index())
    np.savez(out / "index.npz", **arrays)
    names = [*(f"{name}.bin" for name in streams), "index.npz", "meta.jsonl"]
    info = {
        "format": FORMAT, "version": VERSION, "dtype": dtype, "modalities": list(modalities), "samples": len(ids),
        "streams": {name: {"dtype": str(st.dtype), "ndim": st.ndim, "elements": st.elements}
                    for name, st in streams.items()},
        "num_classes": int(getattr(dataset, "num_classes", max(labels, default=-1) + 1)),
        "class_names": list(getattr(dataset, "class_names", None) or []), "source": source or {},
        "sha256": {name: sha256(out / name) for name in names}, "seconds": round(time.perf_counter() - start, 2),
    }
    (out / "pack.json").write_text(json.dumps(info, indent=1))
    return info


# ------------------------------------------------------------------------------------------------
# reading


def read_pack_info(folder: Path) -> dict:
    path = folder / "pack.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; expected a folder written by `fusion data pack` (one per split)")
    try:
        info = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); the pack is damaged, write it again") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} description")
    if info.get("version") != VERSION:
        raise DataError(f"{path}: pack format version {info.get('version')!r}; this Fusion reads version {VERSION}")
    if info.get("dtype") not in DTYPES or not all(m in PACKABLE for m in info.get("modalities") or [None]):
        raise DataError(f"{path}: dtype {info.get('dtype')!r} / modalities {info.get('modalities')!r} are not "
                        f"{'/'.join(DTYPES)} / {', '.join(PACKABLE)}")
    return info


class PackedInfos(Sequence):
    """The split's :class:`SampleInfo` records, made when asked for from the index's arrays. The dataset thus
    holds no Python object per sample: a forked data-loader worker that touched one (its reference count)
    would copy the 4 KB page holding it, and over an epoch every such page."""

    def __init__(self, ids: np.ndarray, labels: np.ndarray, path: str, modalities: tuple[str, ...]):
        self.ids, self.labels, self.path, self.modalities = ids, labels, path, modalities

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        position = range(len(self))[index]  # negative indices and IndexError as a list's
        return SampleInfo(str(self.ids[position]), int(self.labels[position]), self.path, self.modalities,
                          {"position": position})


class PackedSkeletons(FormatDataset):
    """A split written by ``fusion data pack``: zero-copy memory-mapped skeleton arrays.

    Args:
        split: the subfolder of ``path`` (``train``, ``test``, ...), as passed to ``fusion data pack --split``.
        path: the ``--out`` folder of ``fusion data pack``.
        as_float32: return float16 packs as float32 arrays (a copy per sample); False returns the stored
            views (float16 or float32) without copying.
    """

    provides = PACKABLE

    def __init__(self, split: str = "train", path: str | None = None, as_float32: bool = True, seed: int = 0):
        if path is None:
            raise RecipeError("data.dataset.args.path: the folder written by `fusion data pack` is required")
        self.folder = Path(path) / split
        if not self.folder.is_dir():
            splits = sorted(p.name for p in Path(path).iterdir() if (p / "pack.json").is_file()) if Path(path).is_dir() else []
            raise DataError(f"{self.folder}: no packed split {split!r} here (packed splits: {', '.join(splits) or 'none'}); "
                            f"pack it with: fusion data pack RECIPE --out {path} --split {split}")
        info = self.pack = read_pack_info(self.folder)
        self.as_float32 = bool(as_float32)
        self.modalities = tuple(info["modalities"])
        index_path = self.folder / "index.npz"
        try:
            with np.load(index_path, allow_pickle=False) as index:
                self.index = {key: index[key] for key in index.files}
        except Exception as exc:
            raise DataError(f"{index_path}: cannot read the pack index ({type(exc).__name__}: {exc}); "
                            "the pack is damaged, write it again") from None
        count = info["samples"]
        expected = {"ids", "labels"} | {f"{m}_{k}" for m in info["streams"] for k in ("offsets", "shapes", "crc32")}
        if not expected <= set(self.index) or any(len(self.index[k]) != count for k in expected):
            raise DataError(f"{index_path}: expected arrays {', '.join(sorted(expected))} of {count} entries; "
                            "the pack is damaged, write it again")
        for name, stream in info["streams"].items():  # sizes and offsets now; the files are mapped when read
            self._check_stream(name, np.dtype(stream["dtype"]), int(stream["elements"]))
        self._meta_bounds = self._index_meta(count)
        super().__init__((), info["num_classes"], info.get("class_names") or None, seed=seed)
        self.infos = PackedInfos(self.index["ids"], self.index["labels"], str(self.folder / f"{self.modalities[0]}.bin"),
                                 self.modalities)
        self._maps: dict[str, np.ndarray] = {}

    def _check_stream(self, name: str, dtype: np.dtype, elements: int) -> None:
        path = self.folder / f"{name}.bin"
        size = path.stat().st_size if path.is_file() else -1
        if size != elements * dtype.itemsize:
            found = "missing" if size < 0 else f"{size} bytes"
            raise DataError(f"{path}: {found}, expected {elements * dtype.itemsize} bytes "
                            f"({elements} {dtype} values); the pack is truncated or damaged, write it again")
        shapes, offsets = self.index[f"{name}_shapes"], self.index[f"{name}_offsets"]
        ends = offsets + np.prod(shapes, axis=1)
        if len(ends) and (offsets.min() < 0 or ends.max() > elements):
            raise DataError(f"{self.folder / 'index.npz'}: {name} offsets run past {path.name}; the pack is damaged")

    def _index_meta(self, count: int) -> np.ndarray:
        """(start, end) byte offsets of meta.jsonl's non-empty lines, one row per sample."""
        meta_path = self.folder / "meta.jsonl"
        try:
            data = np.fromfile(meta_path, dtype=np.uint8)
            data.tobytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{meta_path}: cannot read ({exc})") from None
        ends = np.append(np.flatnonzero(data == ord("\n")), len(data))
        starts = np.concatenate([[0], ends[:-1] + 1])
        bounds = np.stack([starts, ends], axis=1)[ends > starts].astype(np.int64)
        if len(bounds) != count:
            raise DataError(f"{meta_path}: {len(bounds)} lines for {count} samples; the pack is damaged")
        return bounds

    def _mapped(self, name: str) -> np.ndarray:
        """``<name>.bin``, or ``meta.jsonl`` as bytes, mapped read-only: once per process, when first read."""
        if name not in self._maps:
            if name == "meta.jsonl":
                path, dtype, size = self.folder / name, np.dtype(np.uint8), int(self._meta_bounds[:, 1].max(initial=0))
            else:
                stream = self.pack["streams"][name]
                path, dtype, size = self.folder / f"{name}.bin", np.dtype(stream["dtype"]), int(stream["elements"])
            self._maps[name] = np.memmap(path, dtype=dtype, mode="r", shape=(size,)) if size else np.zeros(0, dtype)
        return self._maps[name]

    def __getstate__(self) -> dict:  # spawned workers map the files themselves instead of receiving a copy
        return {k: v for k, v in self.__dict__.items() if k != "_maps"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._maps = {}

    @property
    def labels(self) -> np.ndarray:
        return self.index["labels"].astype(np.int64)

    def sample_id(self, index: int) -> str:
        return self.infos[index].id

    def _view(self, name: str, index: int) -> np.ndarray:
        shape = tuple(int(n) for n in self.index[f"{name}_shapes"][index])
        start = int(self.index[f"{name}_offsets"][index])
        flat = self._mapped(name)[start:start + int(np.prod(shape))]
        if zlib.crc32(flat) != int(self.index[f"{name}_crc32"][index]):
            raise DataError(f"{self.folder / (name + '.bin')}: sample {self.index['ids'][index]} fails its CRC check "
                            "(the file is damaged); write the pack again")
        return np.ndarray(shape, dtype=flat.dtype, buffer=flat)  # a view of the mapped file: no copy

    def load(self, index: int) -> dict:  # samples are stored in the split's order: position = index
        sample: dict = {}
        for modality in self.modalities:
            array = self._view(modality, index)
            sample[modality] = array.astype(np.float32) if self.as_float32 and array.dtype != np.float32 else array
        sample["label"] = int(self.index["labels"][index])
        start, end = self._meta_bounds[index]
        meta = _decode_meta(json.loads(self._mapped("meta.jsonl")[start:end].tobytes()))
        for name in self.pack["streams"]:
            if name.startswith("meta."):
                meta[name[5:]] = self._view(name, index)
        sample["meta"] = meta
        return sample

    def check(self, progress: Callable[[int, int], None] | None = None) -> list[tuple[str, str]]:
        """Every file's SHA-256 against pack.json, then every sample (CRC) as the base class does."""
        problems = [(name, f"{self.folder / name}: SHA-256 differs from pack.json (the file changed or is damaged)")
                    for name, digest in self.pack.get("sha256", {}).items()
                    if (self.folder / name).is_file() and sha256(self.folder / name) != digest]
        return problems + super().check(progress)
