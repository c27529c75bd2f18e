"""The CPU kernels: numba twins of ``kernels/*.cu``, run by ``op.apply`` on host arrays
(:class:`dali_regaug.launch.NumbaBackend`) and inside DALI's ``numba_function``
(:mod:`dali_regaug.kernels.cpu.run`).

They are compiled once per machine and cached under ``$DALI_REGAUG_CACHE/numba/<digest>``
(or the temporary directory), where the digest covers every file the compiled code depends
on: these modules, the record layouts (read into the code as constants) and numba's
version. Numba's own cache checks only the file of each function, so an edit of a shared
helper would otherwise load stale code; with no writable directory at all, nothing is
cached (``CACHE``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import warnings
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


def cache_path() -> Path | None:
    """Where the compiled kernels go: ``<root>/numba/<digest>`` under the first writable of
    ``$DALI_REGAUG_CACHE`` (default ``~/.cache/dali_regaug``) and the temporary directory;
    None when neither is (the kernels then compile in every process)."""
    for root in (cache_dir(), Path(tempfile.gettempdir()) / f"dali_regaug-{os.getuid()}"):
        path = root / "numba" / digest()[:16]
        try:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
            return path
        except OSError:
            continue
    return None


CACHE_PATH = cache_path()
if CACHE_PATH is None:
    warnings.warn(f"no writable directory for the compiled CPU kernels ({cache_dir()} nor the "
                  f"temporary directory): they compile in every process (about a minute); "
                  f"set DALI_REGAUG_CACHE to a writable directory", stacklevel=2)


class Locator(caching.UserProvidedCacheLocator):
    """Numba's cache locator for the functions of this package, first in numba's list and
    the only one used for them (numba's own in-tree cache would check each function's file
    alone); others are left to numba's locators."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._stamp = digest()
        self._cache_path = str(CACHE_PATH)

    def get_source_stamp(self):
        return self._stamp

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != HERE:
            return None
        return cls(py_func, py_file)


if Locator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, Locator)

CACHE = CACHE_PATH is not None  # the kernels' ``cache=`` option
