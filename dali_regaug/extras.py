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
