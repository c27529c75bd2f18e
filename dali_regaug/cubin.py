"""The GPU build of a kernel file: NVRTC through CuPy's front end, cached on disk by every
kernel source.

``cupy.RawModule(code=...)`` would append ``-ftz=true`` after our options (NVRTC takes the
last of a flag, so subnormals would flush on the GPU and nowhere else) and key its cache on
the ``.cu`` text alone (a release that changes only ``common.cuh`` would reuse cubins of the
old struct layouts). So we call CuPy's ``compile_using_nvrtc``, which adds only the target
architecture and its usual flags, and load the binary with ``RawModule(path=...)``. The
cache key covers every file of ``kernels/``, the options, the architecture and the NVRTC and
CuPy versions; files are written atomically, so ranks compiling at once do not collide.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from dali_regaug.emulator import cache_dir
from dali_regaug.kernels import COMPILE_OPTIONS, source_path, sources_digest


def key(op: str, arch: str, nvrtc_version, cupy_version: str) -> str:
    """The cache key of ``op``'s build for ``arch``."""
    parts = (op, sources_digest(), " ".join(COMPILE_OPTIONS), str(arch), str(nvrtc_version),
             cupy_version)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def build(op: str) -> Path:
    """Path of ``kernels/<op>.cu`` compiled for the current CUDA device (compiled once per
    machine and version)."""
    import cupy
    from cupy.cuda import compiler

    arch = compiler._get_arch()
    name = key(op, arch, compiler._get_nvrtc_version(), cupy.__version__)
    out = cache_dir() / "cubin" / f"{op}-{name}"
    for done in (out.with_suffix(".cubin"), out.with_suffix(".ptx")):
        if done.exists():
            return done
    binary, _ = compiler.compile_using_nvrtc(source_path(op).read_text(), COMPILE_OPTIONS,
                                             arch, filename=f"{op}.cu")
    # a cubin where NVRTC can target the device's architecture, else PTX (as CuPy decides)
    suffix = "." + compiler._get_arch_for_options_for_nvrtc(arch)[1]
    binary = binary.encode() if isinstance(binary, str) else binary
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(binary)
    os.replace(tmp, out.with_suffix(suffix))
    return out.with_suffix(suffix)
