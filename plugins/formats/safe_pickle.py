"""Loading pickles (annotation files, official PyTorch checkpoints) without running code from them.

A pickle names callables that the loader imports and calls; a crafted file can name
``os.system``. PySKL / MMAction2 annotation pickles and st-gcn label pickles only hold builtin
containers, numbers, strings and numpy arrays, so the unpickler here resolves exactly the names
those need and refuses every other one with a :class:`DataError` naming the file and the global.

Official checkpoints (``torch.save`` files: zip archives, or the pre-1.6 stream format) add exactly
``argparse.Namespace`` (MAMP's ``args``), ``collections.OrderedDict`` (state dicts, mmcv metadata),
numpy values and torch's tensor rebuild functions and storage types; :func:`load_torch_checkpoint`
reads them with the same unpickler and that allowlist, never with ``weights_only=False``.
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from fusion.data.limits import check_elements, regular_file
from fusion.errors import DataError, first_line

_BUILTINS = frozenset({
    "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes", "bytearray",
    "bool", "slice", "range",
})  # fmt: skip
#: Module → names a numpy array, dtype or scalar pickle refers to (numpy 1.x and 2.x module paths).
_ALLOWED: dict[str, frozenset[str]] = {
    "builtins": _BUILTINS,
    "__builtin__": _BUILTINS,
    "collections": frozenset({"OrderedDict", "defaultdict"}),
    "_codecs": frozenset({"encode"}),  # protocol 2 stores bytes as _codecs.encode(text, "latin1")
    "numpy": frozenset({"ndarray", "dtype"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
}


#: Storage type name in a torch.save pickle -> tensor dtype (``torch.FloatStorage`` ...).
_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}  # fmt: skip
#: The extra names an official checkpoint needs on top of :data:`_ALLOWED`.
_CHECKPOINT_ALLOWED: dict[str, frozenset[str]] = {
    "argparse": frozenset({"Namespace"}),
    "torch._utils": frozenset({"_rebuild_tensor_v2", "_rebuild_parameter"}),
}
#: Training-log classes of MMAction2 1.x (mmengine) checkpoints' ``message_hub``: rebuilt as inert
#: :class:`MetadataStandIn` records (their pickled state is plain data), never imported. mmcv 1.x
#: checkpoints (PySKL, BRL, MMAction2 0.x) keep only plain values in ``meta``.
_METADATA_STANDINS = frozenset({("mmengine.logging.history_buffer", "HistoryBuffer")})


class MetadataStandIn:
    """An inert record standing for a training-log object: its pickled attributes, no behaviour."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state


class _StorageType:
    """Stands for ``torch.FloatStorage`` & co. inside a persistent id: only its dtype is used."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only builtin containers/numbers and numpy arrays, dtypes, scalars.

    With ``checkpoint=True`` it also resolves what ``torch.save`` files of official models hold
    (:data:`_CHECKPOINT_ALLOWED`, storage types) and reads storages through ``storages(key, dtype, numel)``.
    """

    def __init__(self, file, source: str = "<pickle>", storages=None):
        super().__init__(file)
        self.source = source
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            found = super().find_class(module, name)
            return _sized(found, f"{module}.{name}", self.source) if name in _SIZED else found
        if module == "numpy.dtypes" and name.endswith("DType"):  # numpy 2 dtype classes
            return super().find_class(module, name)
        if self.storages is not None:
            if module == "torch" and name in _STORAGE_DTYPES:
                return _StorageType(_STORAGE_DTYPES[name])
            if name in _CHECKPOINT_ALLOWED.get(module, ()):
                return super().find_class(module, name)
            if (module, name) in _METADATA_STANDINS:
                return type(name, (MetadataStandIn,), {"__module__": __name__, "qualname": f"{module}.{name}"})
            raise DataError(f"{self.source}: refusing to load global {module}.{name}; official checkpoints may hold "
                            "only tensors, OrderedDict, argparse.Namespace, numpy values and plain Python data")
        raise DataError(f"{self.source}: refusing to load global {module}.{name}; annotation pickles may hold "
                        f"only builtin containers, numbers, strings and numpy arrays")

    def persistent_load(self, pid: Any) -> Any:
        if self.storages is None or not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:60]!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"storage {key} has no storage type")
        return self.storages(key, storage_type.dtype, numel)


def _typed_storage(data: bytes | bytearray, dtype: torch.dtype) -> torch.storage.TypedStorage:
    flat = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.empty(0, dtype=dtype)
    return torch.storage.TypedStorage(wrap_storage=flat.untyped_storage(), dtype=dtype, _internal=True)


def _load_zip(data: bytes, source: str) -> Any:
    archive = zipfile.ZipFile(io.BytesIO(data))
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError("the zip archive has no top-level <name>/data.pkl (not a torch.save file)")
    prefix = pickles[0][: -len("data.pkl")]
    order = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in archive.namelist() else "little"
    if order != "little":
        raise ValueError(f"byte order {order!r} (only little-endian checkpoints are read)")
    cache: dict[str, torch.storage.TypedStorage] = {}

    def storages(key: str, dtype: torch.dtype, numel: int) -> torch.storage.TypedStorage:
        if key not in cache:
            raw = archive.read(f"{prefix}data/{key}")
            if len(raw) < numel * dtype.itemsize:
                raise ValueError(f"storage {key} holds {len(raw)} bytes, {numel} x {dtype} expected")
            cache[key] = _typed_storage(raw, dtype)
        return cache[key]

    return RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), source, storages).load()


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _load_legacy(data: bytes, source: str) -> Any:
    """torch.save's pre-1.6 stream: magic, protocol, sys info, the object, storage keys, raw storages."""
    stream = io.BytesIO(data)
    plain = lambda: RestrictedUnpickler(stream, source).load()  # noqa: E731
    if plain() != _LEGACY_MAGIC:
        raise ValueError("no torch.save magic number")
    plain(), plain()  # protocol version, sys info
    made: dict[str, tuple[torch.storage.TypedStorage, torch.Tensor]] = {}

    def storages(key: str, dtype: torch.dtype, numel: int) -> torch.storage.TypedStorage:
        if key not in made:
            flat = torch.zeros(numel, dtype=dtype)
            made[key] = (torch.storage.TypedStorage(wrap_storage=flat.untyped_storage(), dtype=dtype, _internal=True),
                         flat)
        return made[key][0]

    result = RestrictedUnpickler(stream, source, storages).load()
    for key in plain():
        flat = made[str(key)][1]
        count = int.from_bytes(stream.read(8), "little")
        raw = stream.read(count * flat.element_size())
        if count != flat.numel() or len(raw) != count * flat.element_size():
            raise ValueError(f"storage {key} is truncated")
        if raw:
            flat.view(torch.uint8).copy_(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    return result


def load_torch_checkpoint(path: str | Path) -> Any:
    """The object in ``torch.save`` file ``path``, read with :class:`RestrictedUnpickler` (no code runs).

    A global outside the allowlist is refused naming it; a truncated or non-torch file gets one sentence.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation: only used to rebuild tensors
            if data[:4] == b"PK\x03\x04":
                return _load_zip(data, str(path))
            if data[:2] == b"\x80\x02":
                return _load_legacy(data, str(path))
        raise ValueError("neither a zip archive nor a pickle stream")
    except DataError:
        raise
    except Exception as exc:  # truncated, corrupt, or another format (safetensors, text, ...)
        detail = first_line(exc)
        raise DataError(f"{path}: not a readable PyTorch checkpoint (truncated or not a torch.save file: "
                        f"{detail})") from None


#: Allowed callables that allocate what their arguments say (``bytearray(10**12)``, ``list(range(10**12))``,
#: ``ndarray((10**9,))``): called through :func:`_sized`, which checks that size against the sample budget.
_SIZED = frozenset({"list", "tuple", "set", "frozenset", "bytes", "bytearray", "ndarray", "_reconstruct"})
#: Of those, the ones whose tuple argument is a shape (its product counts), not a list of values.
_SHAPED = frozenset({"ndarray", "_reconstruct"})


def _declared_size(value: Any, shaped: bool) -> int:
    """Elements an argument makes a constructor allocate: an int count, a range's length, a shape's product."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return abs(value)
    if isinstance(value, range):
        return len(value) if len(value) < 2**62 else 2**62
    if shaped and isinstance(value, (tuple, list)) and value and all(isinstance(v, int) for v in value):
        total = 1
        for v in value:
            total *= max(int(v), 0)
        return total
    return 0


def _sized(factory: Any, name: str, source: str) -> Any:
    def call(*args, **kwargs):
        size = max((_declared_size(a, name.rsplit(".", 1)[-1] in _SHAPED) for a in (*args, *kwargs.values())),
                   default=0)
        check_elements(size, 8, source, f"pickle call {name}(...) of {size} elements")
        args = tuple(getattr(a, "unsized", a) for a in args)  # _reconstruct(ndarray, ...) needs the class itself
        return factory(*args, **kwargs)

    call.unsized = factory
    return call


#: Pickles up to this size have their opcodes scanned before loading (real annotation files are larger
#: and come from the dataset's authors; a small file is where a corrupt or crafted size hides).
SCAN_BYTES = 64 << 20
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _check_opcodes(data: bytes, source: str) -> None:
    """Refuse a length or memo index the file cannot back before the C unpickler allocates it.

    The unpickler allocates a ``BINBYTES``/``BINUNICODE`` object of the declared length before reading
    it and grows its memo to a ``LONG_BINPUT`` index: 5 corrupt bytes can ask for gigabytes.
    ``pickletools.genops`` checks every counted length against the bytes that remain.
    """
    import pickletools

    try:
        for op, arg, position in pickletools.genops(data):
            if op.name in _PUTS and isinstance(arg, int) and arg > len(data):
                raise DataError(f"{source}: corrupt pickle: memo index {arg} at byte {position} is larger than the file")
            if op.name == "FRAME" and arg > len(data) - position:
                raise DataError(f"{source}: corrupt pickle: frame of {arg} bytes at byte {position} runs past the end")
            if op.name == "STOP":
                return
    except DataError:
        raise
    except Exception as exc:  # a length past the end, an unknown opcode, a truncated file
        raise DataError(f"{source}: not a readable pickle ({str(exc)[:200]})") from None


def load_pickle(path: str | Path) -> Any:
    """The object in pickle file ``path``, loaded with :class:`RestrictedUnpickler`.

    A named pipe or directory is refused unread; a call the file makes to an allowed constructor
    with a huge size is refused before it allocates (see :data:`_SIZED`).
    """
    path = Path(path)
    regular_file(path, "pickle")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) <= SCAN_BYTES:
        _check_opcodes(data, str(path))
    try:
        return RestrictedUnpickler(io.BytesIO(data), str(path)).load()
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path}: the pickle needs more memory than is available (a corrupt size?)") from None
    except RecursionError:
        raise DataError(f"{path}: the pickle nests objects too deeply") from None
    except Exception as exc:  # truncated or not a pickle at all
        raise DataError(f"{path}: not a readable pickle ({type(exc).__name__}: {str(exc)[:200]})") from None
