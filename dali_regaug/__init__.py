"""Region-level image augmentation as NVIDIA DALI operators backed by CuPy CUDA kernels."""

__version__ = "0.1.0"
