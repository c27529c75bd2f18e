"""CUDA C++ sources of the dali-regaug kernels, shipped as package data.

Each ``<op>.cu`` file defines ``extern "C"`` kernels named ``<op>_<dtype>_<layout>_<index>``;
``dali_regaug.launch`` compiles them with CuPy on a GPU, ``dali_regaug.nvrtc`` with NVRTC
alone, and ``dali_regaug.emulator`` with the system C++ compiler.
"""

import hashlib
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent


def source_path(op: str) -> Path:
    """Path of the ``.cu`` file that defines the kernels of ``op``."""
    return SOURCE_DIR / f"{op}.cu"


OPS = ("grid_mask", "erase", "composite")
DTYPES = {"uint8": "u8", "float16": "f16", "float32": "f32"}
LAYOUTS = ("hwc", "chw")
INDEX_TYPES = ("i32", "i64")

# NVRTC options of the GPU build (dali_regaug.cubin) and the compile check: --fmad=false keeps
# float expressions unfused and -ftz=false keeps subnormals, so that they round exactly as
# NumPy's float32 operations and the emulator do.
COMPILE_OPTIONS = ("--std=c++17", "--fmad=false", "-ftz=false", f"--include-path={SOURCE_DIR}")


def sources_digest() -> str:
    """SHA-256 of every kernel source (``*.cu`` and the headers they include): a change to
    any one of them is a new build."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.cu*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def kernel_name(op: str, dtype: str, layout: str, index: str) -> str:
    """Name of one kernel variant, e.g. ``grid_mask_u8_hwc_i32``."""
    return f"{op}_{DTYPES[dtype]}_{layout.lower()}_{index}"


def kernel_names(op: str) -> list[str]:
    """All variants of ``op`` that its ``.cu`` file defines."""
    return [kernel_name(op, t, lay, i) for t in DTYPES for lay in LAYOUTS for i in INDEX_TYPES]
