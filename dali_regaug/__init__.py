"""Region-level image augmentation as NVIDIA DALI operators backed by CuPy CUDA kernels.

``dali_regaug.fn`` holds the DALI operators; ``dali_regaug.ops`` their samplers and pure
apply functions; ``dali_regaug.emulator`` and ``dali_regaug.nvrtc`` prove the kernels
without a GPU.
"""

from pathlib import Path

# Installed, the kernels, pipelines and benchmarks are subpackages (pyproject's
# package-dir). Run from a source checkout that is not installed (PYTHONPATH=., as on a GPU
# machine without DALI), they are found beside the package instead.
if (Path(__file__).parent.parent / "kernels" / "__init__.py").exists() and \
        not (Path(__file__).parent / "kernels").exists():
    __path__.append(str(Path(__file__).parent.parent))

from dali_regaug.registry import load_state_dict, set_epoch, state_dict  # noqa: E402

__version__ = "0.1.0"
__all__ = ["set_epoch", "state_dict", "load_state_dict"]
