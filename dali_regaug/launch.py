"""The one launcher behind every kernel: packs the launch table, picks the variant and the
grid, and drives either CuPy (GPU) or the CPU emulator through ``kernel(grid, block, args)``.

A launch covers a whole batch: ``blockIdx.y`` is the sample and a grid-stride loop covers its
pixels, so samples may differ in height and width. Each table row holds the sample's
pointers (inputs, output, parameter record) and its height and width. Because a sample's
offset within the batch is carried by its pointer, indices only need to span one sample:
the int32 variant is used unless a sample (plus one grid stride) reaches 2**31 elements.

On a GPU everything is enqueued on CuPy's current stream, which inside a DALI
``python_function`` is DALI's stream; nothing here synchronizes. The table and outputs come
from CuPy's stream-ordered memory pool, so releasing them after the call is safe.
"""

from __future__ import annotations

import functools

import numpy as np

from dali_regaug import batch as batch_mod
from dali_regaug import records
from dali_regaug.kernels import COMPILE_OPTIONS, kernel_name, source_path

TABLE_DTYPE = records.TABLE
BLOCK = 256
MAX_GRID_X = 1024
INT32_LIMIT = 2**31


class NumpyHost:
    """Host arrays for the emulator: "device" memory is host memory."""

    xp = np

    @staticmethod
    def to_device(host: np.ndarray):
        return np.ascontiguousarray(host)

    @staticmethod
    def pointer(a) -> int:
        return a.ctypes.data


class EmulatorBackend(NumpyHost):
    """Runs the kernels on the CPU emulator (``dali_regaug.emulator``)."""

    name = "emulator"

    def __init__(self, *, sanitize: bool = False):
        self.sanitize = sanitize

    def kernel(self, op: str, name: str):
        return _emulator_module(op, self.sanitize).get_function(name)


class CupyBackend:
    """Runs the kernels on the current CUDA device and stream through CuPy."""

    name = "cupy"

    def __init__(self):
        import cupy

        self.xp = cupy

    def to_device(self, host: np.ndarray):
        return self.xp.asarray(host)

    @staticmethod
    def pointer(a) -> int:
        return a.data.ptr

    def kernel(self, op: str, name: str):
        return _cupy_function(self.xp.cuda.Device().id, op, name)


@functools.lru_cache(maxsize=None)
def _emulator_module(op: str, sanitize: bool):
    from dali_regaug.emulator import EmulatorModule

    return EmulatorModule(op, sanitize=sanitize)


@functools.lru_cache(maxsize=None)
def _cupy_module(device: int, op: str):
    import cupy

    with cupy.cuda.Device(device):
        return cupy.RawModule(code=source_path(op).read_text(), options=COMPILE_OPTIONS)


@functools.lru_cache(maxsize=None)
def _cupy_function(device: int, op: str, name: str):
    return _cupy_module(device, op).get_function(name)


def backend_for(images, backend=None):
    """The one place that decides where a call runs: ``backend`` itself when it is a launch
    backend, the emulator for ``"emulator"``, CuPy for CuPy arrays, else ``None`` (the NumPy
    path). Backends are made once per process."""
    if backend == "emulator":
        return _emulator()
    if backend is not None and backend != "numpy":
        return backend
    first = images[0] if isinstance(images, (list, tuple)) and len(images) else images
    if backend is None and type(first).__module__.startswith("cupy"):
        return _cupy()
    return None


@functools.lru_cache(maxsize=None)
def _emulator():
    return EmulatorBackend()


@functools.lru_cache(maxsize=None)
def _cupy():
    return CupyBackend()


def index_type(max_elements: int, stride: int) -> str:
    """``"i32"`` when every index and index + stride stays below 2**31, else ``"i64"``."""
    return "i32" if max_elements + stride < INT32_LIMIT else "i64"


def launch(op: str, images, params, *, layout: str, backend, args=(), images2=None,
           out=None, out_dtype=None, block: int = BLOCK, max_grid_x: int = MAX_GRID_X,
           index: str | None = None):
    """Run kernel ``op`` once over the batch and return the outputs.

    Parameters
    ----------
    op : str
        Kernel file, e.g. ``"grid_mask"``.
    images : list of arrays, array or dali_regaug.batch.Batch
        The batch (list of ``(H, W, C)``/``(C, H, W)`` arrays, one stacked 4-D array, or
        the caller's :func:`dali_regaug.batch.describe` of it).
    params : structured ndarray or list of arrays
        Host parameter records, one per sample, or per-sample device byte arrays (as DALI
        hands them to a GPU ``python_function``).
    layout : {"HWC", "CHW"}
    backend : CupyBackend or EmulatorBackend
    args : tuple
        Kernel arguments after ``(table, channels)``; NumPy scalars or arrays.
    images2 : list of arrays, optional
        Second source (the composite's ``b``), same shapes as ``images``.
    out : array, optional
        The stacked outputs (see :func:`dali_regaug.batch.check_out`); it may be
        ``images`` itself for kernels that read and write each element at one index.
    out_dtype : numpy dtype, optional
        Of the outputs, when it is not the images' (region scores).
    block, max_grid_x : int
        Threads per block and the cap on blocks per sample (smaller values exercise the
        grid-stride loop).
    index : {None, "i32", "i64"}
        Index type of the variant; by default the narrowest that fits.

    Returns
    -------
    Outputs in the structure of ``images``: a list of arrays, or one stacked array.
    """
    arrays, h, w, c, dtype, stacked = batch_mod.describe(images, layout)
    if not arrays:
        return images if stacked else []
    xp, n = backend.xp, len(arrays)
    same = all(a.shape == arrays[0].shape for a in arrays)
    out_dtype = dtype if out_dtype is None else np.dtype(out_dtype)
    if out is not None:
        out_all = batch_mod.check_out(out, arrays)
        outs = list(out_all)
    elif same:
        out_all = xp.empty((n, *arrays[0].shape), out_dtype)
        outs = list(out_all)
    else:
        flat = xp.empty(sum(a.size for a in arrays), out_dtype)
        ends = np.cumsum([a.size for a in arrays])
        outs = [flat[e - a.size:e].reshape(a.shape) for a, e in zip(arrays, ends)]
    ins = [xp.ascontiguousarray(a) for a in arrays]
    ins2 = [xp.ascontiguousarray(a) for a in images2] if images2 is not None else []
    table = np.zeros(n, TABLE_DTYPE)
    table["in"] = [backend.pointer(a) for a in ins]
    table["in2"] = [backend.pointer(a) for a in ins2] if ins2 else 0
    table["out"] = [backend.pointer(o) for o in outs]
    table["params"], dev_params = _param_pointers(params, backend)
    table["height"], table["width"] = h, w
    hw = h * w
    grid_x = int(max(1, min(max_grid_x, -(-int(hw.max()) // block))))
    index = index or index_type(int((hw * c).max()), grid_x * block)
    kernel = backend.kernel(op, kernel_name(op, dtype.name, layout, index))
    dev_table = backend.to_device(table.view(np.uint8))
    kernel((grid_x, n, 1), (block, 1, 1), (dev_table, np.int32(c), *args))
    del ins, ins2, dev_params, dev_table  # stream-ordered release on CuPy's pool
    return out_all if stacked and (same or out is not None) else outs


def _param_pointers(params, backend):
    """Device address of each sample's parameter record, and what must stay alive for it."""
    if isinstance(params, np.ndarray) and params.dtype.names:
        dev = backend.to_device(params.view(np.uint8).reshape(len(params), -1))
        base = backend.pointer(dev)
        return base + np.arange(len(params), dtype=np.uint64) * params.dtype.itemsize, dev
    return [backend.pointer(p) for p in params], params
