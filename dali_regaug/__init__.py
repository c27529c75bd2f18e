"""Region-level image augmentation as NVIDIA DALI operators backed by CuPy CUDA kernels.

``dali_regaug.fn`` holds the DALI operators; ``dali_regaug.ops`` their samplers and pure
apply functions; ``dali_regaug.emulator`` and ``dali_regaug.nvrtc`` prove the kernels
without a GPU.
"""

from dali_regaug.registry import load_state_dict, set_epoch, state_dict

__version__ = "0.1.0"
__all__ = ["set_epoch", "state_dict", "load_state_dict"]
