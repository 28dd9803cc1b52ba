"""Loading annotation pickles without running code from them.

A pickle names callables that the loader imports and calls; a crafted file can name
``os.system``. PySKL / MMAction2 annotation pickles and st-gcn label pickles only hold builtin
containers, numbers, strings and numpy arrays, so the unpickler here resolves exactly the names
those need and refuses every other one with a :class:`DataError` naming the file and the global.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from fusion.data.limits import check_elements, regular_file
from fusion.errors import DataError

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


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only builtin containers/numbers and numpy arrays, dtypes, scalars."""

    def __init__(self, file, source: str = "<pickle>"):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            found = super().find_class(module, name)
            return _sized(found, f"{module}.{name}", self.source) if name in _SIZED else found
        if module == "numpy.dtypes" and name.endswith("DType"):  # numpy 2 dtype classes
            return super().find_class(module, name)
        raise DataError(f"{self.source}: refusing to load global {module}.{name}; annotation pickles may hold "
                        f"only builtin containers, numbers, strings and numpy arrays")


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
