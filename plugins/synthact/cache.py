"""A folder of .npy arrays per parameter hash: generate once, memory-map afterwards (never pickle).

Writes go to a temporary name and are renamed into place, so concurrent processes (data-loader
workers, data-parallel ranks) generating the same set never read a half-written file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fusion.data.limits import regular_file
from fusion.errors import DataError


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$FUSION_CACHE/synthact``, else ``~/.cache/fusion/synthact``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("FUSION_CACHE"):
        return Path(os.environ["FUSION_CACHE"]).expanduser() / "synthact"
    return Path.home() / ".cache" / "fusion" / "synthact"


class ArrayCache:
    """The arrays of one parameter set, in ``root/key/``."""

    def __init__(self, root: Path, key: str, params: dict):
        self.folder = root / key
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            params_file = self.folder / "params.json"
            if not params_file.exists():
                with self._atomic(params_file) as tmp:
                    tmp.write_text(json.dumps(params, indent=1, sort_keys=True))
        except OSError as exc:
            raise DataError(f"synthact: cannot use cache folder {self.folder}: {exc}; pass cache_dir= or set FUSION_CACHE") from exc

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npy"

    def has(self, *names: str) -> bool:
        return all(self.path(n).exists() for n in names)

    def load(self, name: str) -> np.ndarray:
        """The array memory-mapped read-only (no pickle)."""
        path = self.path(name)
        try:
            regular_file(path, "synthact cache file")  # a named pipe would block np.load
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # a corrupt header raises ValueError, SyntaxError, tokenize errors...
            raise DataError(
                f"synthact cache file {path} is unreadable ({exc}); delete the folder {self.folder} to regenerate it"
            ) from exc

    def save(self, name: str, array: np.ndarray) -> None:
        with self._atomic(self.path(name)) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(array), allow_pickle=False)

    @contextmanager
    def create(self, name: str, shape: tuple[int, ...], dtype) -> Iterator[np.ndarray]:
        """A writable memory-mapped array that appears under ``name`` only when the block succeeds."""
        with self._atomic(self.path(name)) as tmp:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            yield array
            array.flush()
            del array

    @staticmethod
    @contextmanager
    def _atomic(final: Path) -> Iterator[Path]:
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
