"""The CPU kernels: numba twins of ``kernels/*.cu``, run by ``op.apply`` on host arrays
(:class:`dali_regaug.launch.NumbaBackend`) and inside DALI's ``numba_function``
(:mod:`dali_regaug.kernels.cpu.run`).

They are compiled once per machine and cached under ``$DALI_REGAUG_CACHE/numba/<digest>``,
where the digest covers every file the compiled code depends on: these modules, the
record layouts (read into the code as constants) and numba's version. Numba's own cache
checks only the file of each function, so an edit of a shared helper would otherwise load
stale code.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numba
from numba.core import caching

from dali_regaug import records
from dali_regaug.emulator import cache_dir

HERE = Path(__file__).resolve().parent
# read into the compiled code as constants: the record layouts, and the kernels' order
DEPENDENCIES = (Path(records.__file__), HERE.parent / "__init__.py")


@functools.lru_cache(maxsize=None)
def digest() -> str:
    """SHA-256 of what the compiled kernels depend on."""
    h = hashlib.sha256(numba.__version__.encode())
    for path in [*sorted(HERE.glob("*.py")), *DEPENDENCIES]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class Locator(caching.UserProvidedCacheLocator):
    """Numba's cache locator for the functions of this package (others are left to
    numba's own locators)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._stamp = digest()
        self._cache_path = str(cache_dir() / "numba" / self._stamp[:16])

    def get_source_stamp(self):
        return self._stamp

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != HERE:
            return None
        return super(caching.UserProvidedCacheLocator, cls).from_function(py_func, py_file)


if Locator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, Locator)
