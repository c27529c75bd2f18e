"""The machine and library versions a benchmark record was taken with."""

from __future__ import annotations

import importlib
import os
import platform


def info(device=None, **modules) -> dict:
    """CPU model, core count, Python, NumPy and numba (the CPU kernels), each ``name=module``
    version (``None`` where the module is not installed, e.g. DALI on a GPU machine) and,
    for a CUDA ``device``, the GPU's name."""
    record = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}
    for name, module in {"numpy": "numpy", "numba": "numba", **modules}.items():
        try:
            record[name] = importlib.import_module(module).__version__
        except ImportError:
            record[name] = None
    if device is not None:
        record["device"] = str(device)
        if device.type == "cuda":
            import torch

            record["gpu"] = torch.cuda.get_device_name(device)
    return record


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()
