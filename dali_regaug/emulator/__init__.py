"""CPU emulator for the dali-regaug CUDA kernels.

The same ``kernels/*.cu`` source is compiled by the system C++ compiler behind
``cuda_shim.h`` and loaded with ctypes. :class:`EmulatorModule` mirrors ``cupy.RawModule``
and its kernels take ``kernel(grid, block, args)`` like ``cupy.RawKernel``, so the launcher in
:mod:`dali_regaug.launch` drives either one with the same code. Array arguments are NumPy
arrays (host memory stands in for device memory); scalars must be NumPy scalars, whose C
type is explicit, as CuPy needs too.

Builds are cached under ``$DALI_REGAUG_CACHE`` (default ``~/.cache/dali_regaug``), keyed by
the sources, the flags and the compiler. ``sanitize=True`` builds with AddressSanitizer;
such a library only loads into a process started with libasan preloaded (see
:func:`asan_environment`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from dali_regaug.kernels import SOURCE_DIR, kernel_names, source_path

SHIM = Path(__file__).resolve().parent / "cuda_shim.h"
FLAGS = ("-std=c++20", "-fPIC", "-shared", "-pthread", "-ffp-contract=off", "-fno-fast-math")
OPT_FLAGS = ("-O2",)
# AddressSanitizer, and UBSan's alignment check: a GPU faults on a misaligned load, x86 does not.
ASAN_FLAGS = ("-O1", "-g", "-fsanitize=address,alignment", "-fno-sanitize-recover=alignment",
              "-fno-omit-frame-pointer")


class Dim3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


def _dim3(v) -> Dim3:
    v = (v,) if isinstance(v, int) else tuple(v)
    return Dim3(*(tuple(v) + (1, 1, 1))[:3])


def compiler() -> str:
    """The C++ compiler: ``$CXX`` or ``g++``."""
    return os.environ.get("CXX", "g++")


def cache_dir() -> Path:
    return Path(os.environ.get("DALI_REGAUG_CACHE", Path.home() / ".cache" / "dali_regaug"))


def asan_environment() -> dict[str, str]:
    """Environment for a subprocess that loads sanitized emulator builds."""
    lib = subprocess.run([compiler(), "-print-file-name=libasan.so"], capture_output=True,
                         text=True, check=True).stdout.strip()
    env = dict(os.environ)
    env["LD_PRELOAD"] = lib
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
    return env


def _translation_unit(source: Path, names: list[str]) -> str:
    exports = "\n".join(f"REGAUG_EMU_EXPORT({n})" for n in names)
    return f'#include "{SHIM}"\n#include "{source}"\n{exports}\n'


def build(source: Path, names: list[str], *, sanitize: bool = False) -> Path:
    """Compile the kernels ``names`` of ``source`` for the emulator (cached); return the path."""
    source = Path(source).resolve()
    op = source.stem
    flags = FLAGS + (ASAN_FLAGS if sanitize else OPT_FLAGS)
    unit = _translation_unit(source, names)
    digest = hashlib.sha256()
    for part in (unit, SHIM.read_text(), " ".join(flags), compiler()):
        digest.update(part.encode())
    for src in sorted({*SOURCE_DIR.glob("*.cu*"), *source.parent.glob("*.cu*")}):
        digest.update(src.read_bytes())
    out = cache_dir() / "emulator" / f"{op}-{digest.hexdigest()[:16]}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        cpp, lib = Path(tmp) / f"{op}.cpp", Path(tmp) / f"{op}.so"
        cpp.write_text(unit)
        cmd = [compiler(), *flags, f"-I{SOURCE_DIR}", f"-I{source.parent}", str(cpp), "-o", str(lib)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"emulator build of {op} failed:\n{' '.join(cmd)}\n{res.stderr}")
        os.replace(lib, out)
    return out


class EmulatorKernel:
    """One kernel of an :class:`EmulatorModule`, called as ``kernel(grid, block, args)``."""

    def __init__(self, func, name: str, threaded: bool):
        self._func, self.name, self.threaded = func, name, threaded

    def __call__(self, grid, block, args):
        holders, slots = [], (ctypes.c_void_p * len(args))()
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):
                h = ctypes.c_void_p(a.ctypes.data)
            elif isinstance(a, np.generic):
                h = np.ctypeslib.as_ctypes_type(a.dtype)(a.item())
            else:
                raise TypeError(f"argument {i} of {self.name}: pass a NumPy array or NumPy "
                                f"scalar (np.int32, ...), not {type(a).__name__}")
            holders.append(h)
            slots[i] = ctypes.addressof(h)
        rc = self._func(_dim3(grid), _dim3(block), slots, int(self.threaded))
        if rc != 0:
            raise RuntimeError(f"emulated launch of {self.name} failed ({rc})")


class EmulatorModule:
    """The emulated kernels of one ``.cu`` file, like ``cupy.RawModule``.

    Parameters
    ----------
    op : str
        A kernel file of the package (``kernels/<op>.cu``), with all its variants.
    sanitize : bool
        Build with AddressSanitizer.
    source, names : Path, list of str, optional
        Any other ``.cu`` file and the ``extern "C"`` kernels to export from it.
    """

    def __init__(self, op: str | None = None, *, sanitize: bool = False, source=None,
                 names=None):
        source = Path(source) if source is not None else source_path(op)
        names = names if names is not None else kernel_names(op)
        self._lib = ctypes.CDLL(str(build(source, names, sanitize=sanitize)))
        # Kernels that meet at barriers need one OS thread per CUDA thread.
        self.threaded = "__syncthreads" in source.read_text()

    def get_function(self, name: str) -> EmulatorKernel:
        func = getattr(self._lib, f"emu_{name}")
        func.argtypes = [Dim3, Dim3, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        func.restype = ctypes.c_int
        return EmulatorKernel(func, name, self.threaded)
