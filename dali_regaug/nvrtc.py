"""Compile the kernels with NVRTC through ``cuda-bindings``; no GPU or driver is needed.

This is the check that every ``.cu`` file is valid CUDA C++ for each target architecture,
with the options of the GPU build (:mod:`dali_regaug.cubin`, whose own test runs CuPy's
compile path itself).
"""

from __future__ import annotations

from dali_regaug.kernels import COMPILE_OPTIONS, source_path

ARCHS = (75, 80, 86, 90)


def _check(result, prog=None):
    from cuda.bindings import nvrtc

    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        log = ""
        if prog is not None:
            _, size = nvrtc.nvrtcGetProgramLogSize(prog)
            buf = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, buf)
            log = buf.decode(errors="replace")
        raise RuntimeError(f"NVRTC error {err!r}\n{log}")
    return result[1:] if len(result) > 2 else (result[1] if len(result) == 2 else None)


def version() -> tuple[int, int]:
    """NVRTC (major, minor)."""
    from cuda.bindings import nvrtc

    return tuple(_check(nvrtc.nvrtcVersion()))


def compile_ptx(op: str, arch: int, options=None) -> str:
    """PTX of ``kernels/<op>.cu`` for ``compute_<arch>``, with ``options`` (by default the
    GPU build's, :data:`COMPILE_OPTIONS`); raises with the log on error."""
    from cuda.bindings import nvrtc

    path = source_path(op)
    prog = _check(nvrtc.nvrtcCreateProgram(path.read_bytes(), path.name.encode(), 0, [], []))
    try:
        opts = [o.encode() for o in (COMPILE_OPTIONS if options is None else options)] + \
            [f"--gpu-architecture=compute_{arch}".encode()]
        _check(nvrtc.nvrtcCompileProgram(prog, len(opts), opts), prog)
        size = _check(nvrtc.nvrtcGetPTXSize(prog))
        buf = b" " * size
        _check(nvrtc.nvrtcGetPTX(prog, buf))
        return buf.rstrip(b"\0 ").decode()
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
