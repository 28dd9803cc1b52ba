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
            return super().find_class(module, name)
        if module == "numpy.dtypes" and name.endswith("DType"):  # numpy 2 dtype classes
            return super().find_class(module, name)
        raise DataError(f"{self.source}: refusing to load global {module}.{name}; annotation pickles may hold "
                        f"only builtin containers, numbers, strings and numpy arrays")


def load_pickle(path: str | Path) -> Any:
    """The object in pickle file ``path``, loaded with :class:`RestrictedUnpickler`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), str(path)).load()
    except DataError:
        raise
    except Exception as exc:  # truncated or not a pickle at all
        raise DataError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
