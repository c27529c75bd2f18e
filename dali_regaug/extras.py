"""The optional dependencies: a missing one is named with the extra that installs it."""

from __future__ import annotations

import importlib


def dali() -> None:
    """Import NVIDIA DALI, or say which extra brings it (one per CUDA major)."""
    try:
        importlib.import_module("nvidia.dali")
    except ImportError as err:
        raise ImportError("this part of dali_regaug needs NVIDIA DALI: pip install "
                          "'dali-regaug[cuda12]' or 'dali-regaug[cuda13]' (the CUDA major of "
                          "your driver and torch)") from err


def numba() -> None:
    """Import numba (the CPU kernels), or say which extra brings it."""
    try:
        importlib.import_module("numba")
    except ImportError as err:
        raise ImportError("the CPU kernels of dali_regaug need numba: pip install "
                          "'dali-regaug[cpu]' (the CUDA extras bring it too)") from err
