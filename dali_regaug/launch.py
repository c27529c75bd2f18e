"""The one launcher behind every kernel: packs the launch table, picks the variant and the
grid, and drives CuPy (GPU), the kernels' numba twins or the CPU emulator through
``kernel(grid, block, args)``.

A launch covers a whole batch: ``blockIdx.y`` is the sample and a grid-stride loop covers its
pixels, so samples may differ in height and width. Each table row holds the sample's
pointers (inputs, output, parameter record) and its height and width. Because a sample's
offset within the batch is carried by its pointer, indices only need to span one sample:
the int32 variant is used unless a sample (plus one grid stride) reaches 2**31 elements.

On a GPU the whole launch runs with the images' device current, and everything is enqueued
on CuPy's current stream, which inside a DALI ``python_function`` is DALI's stream; nothing
here synchronizes. The table, the host records and the host array arguments go to the
device in one copy, and device addresses reach the kernel as 64-bit integers (a pointer's
bytes). The table and outputs come from CuPy's memory pool, whose blocks are reused in the
order of the stream, so releasing them after the call is safe. A batch past CUDA's
65,535 blocks along y takes one launch per 65,535 samples. The kernels are compiled by
:mod:`dali_regaug.cubin`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os

import numpy as np

from dali_regaug import batch as batch_mod
from dali_regaug import records
from dali_regaug.kernels import DTYPES as DTYPE_NAMES
from dali_regaug.kernels import kernel_name

TABLE_DTYPE = records.TABLE
BLOCK = 256
MAX_GRID_X = 1024
# Each thread takes about this many pixels: a block pays a few dependent loads (its table row,
# then its record) before its first pixel, and with one pixel per thread that start costs
# 20-30% of the time (an H200 at batch 256 of 224x224: 0.170 ms with 196 blocks per sample,
# 0.122 ms with 25; benchmarks/README.md) ...
PIXELS_PER_THREAD = 8
MIN_BLOCKS = 1024  # ... unless the batch would then leave a large GPU's SMs idle
MAX_GRID_Y = 65535  # CUDA's limit on gridDim.y: the samples of one launch
ALIGN = 16  # of each part of the uploaded buffer
INT32_LIMIT = 2**31
SPLIT_BYTES = 1 << 22  # the CPU kernels split a batch among threads from this many bytes out


class NumpyHost:
    """Host arrays for the emulator: "device" memory is host memory."""

    xp = np

    @staticmethod
    def empty(shape, dtype=np.uint8) -> np.ndarray:
        return np.empty(shape, dtype)

    @staticmethod
    def upload(dev, host: np.ndarray):
        dev[...] = host

    @staticmethod
    def pointer(a) -> int:
        return a.ctypes.data

    @staticmethod
    def device_of(a):
        return contextlib.nullcontext()

    @staticmethod
    def device_key() -> str:
        return "host"


class EmulatorBackend(NumpyHost):
    """Runs the kernels on the CPU emulator (``dali_regaug.emulator``)."""

    name = "emulator"

    def __init__(self, *, sanitize: bool = False):
        self.sanitize = sanitize

    def kernel(self, op: str, name: str):
        return _emulator_module(op, self.sanitize).get_function(name)


class NumbaBackend(NumpyHost):
    """Runs the kernels' numba twins (``kernels/cpu``) on host arrays, the samples split
    among ``threads`` threads (the kernels release the GIL)."""

    name = "numba"

    def __init__(self, threads: int | None = None):
        from dali_regaug.kernels.cpu import run

        self.run = run
        self.threads = threads or len(os.sched_getaffinity(0))

    def kernel(self, op: str, name: str):
        from dali_regaug.kernels import OPS
        from dali_regaug.kernels.cpu import entry

        short, layout = name.rsplit("_", 3)[1:3]
        like = entry.LIKE[list(DTYPE_NAMES.values()).index(short)]
        return functools.partial(self._call, OPS.index(op), layout == "hwc", like)

    def _call(self, op, hwc, like, grid, block, args):
        table, nc = int(args[0]), int(args[1])
        mode, values = (int(args[2]), int(args[3])) if len(args) > 2 else (0, 0)
        n = int(grid[1])
        rows = np.ctypeslib.as_array((ctypes.c_uint64 * (n * len(TABLE_DTYPE))).from_address(
            table)).view(TABLE_DTYPE)
        written = int((rows["height"] * rows["width"]).sum()) * nc * like.itemsize
        # in place, a call writes only the dropped pixels: waking threads costs more
        alone = written < SPLIT_BYTES or (rows["in"] == rows["out"]).all()
        parts = 1 if alone else min(self.threads, n)
        bounds = [n * k // parts for k in range(parts + 1)]
        work = [functools.partial(self.run.run_table, op, table, lo, hi, nc, hwc, mode, values,
                                  like) for lo, hi in zip(bounds[:-1], bounds[1:])]
        if len(work) == 1:
            work[0]()
            return
        pool = _pool(self.threads, os.getpid())
        for done in [pool.submit(w) for w in work]:
            done.result()


@functools.lru_cache(maxsize=None)
def _pool(threads: int, pid: int):
    """The threads of one process (a forked child, a DataLoader worker say, has none of its
    parent's: it makes its own)."""
    return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="dali_regaug")


class CupyBackend:
    """Runs the kernels on the data's CUDA device and CuPy's current stream."""

    name = "cupy"

    def __init__(self):
        import cupy

        self.xp = cupy

    def empty(self, shape, dtype=np.uint8):
        return self.xp.empty(shape, dtype)

    @staticmethod
    def upload(dev, host: np.ndarray):
        dev.set(host)  # enqueued on the current stream

    @staticmethod
    def pointer(a) -> int:
        return a.data.ptr

    @staticmethod
    def device_of(a):
        """The device of ``a`` (an array, or a list of them), to enter for the launch: the
        module, the table and the outputs must live where the data does."""
        return (a if hasattr(a, "device") else a[0]).device

    def device_key(self) -> int:
        return self.xp.cuda.Device().id

    def kernel(self, op: str, name: str):
        return _cupy_function(self.device_key(), op, name)


@functools.lru_cache(maxsize=None)
def _emulator_module(op: str, sanitize: bool):
    from dali_regaug.emulator import EmulatorModule

    return EmulatorModule(op, sanitize=sanitize)


@functools.lru_cache(maxsize=None)
def _cupy_module(device: int, op: str):
    import cupy

    from dali_regaug import cubin

    with cupy.cuda.Device(device):
        return cupy.RawModule(path=str(cubin.build(op)))


@functools.lru_cache(maxsize=None)
def _cupy_function(device: int, op: str, name: str):
    return _cupy_module(device, op).get_function(name)


def backend_for(images, backend=None):
    """The one place that decides where a call runs: ``backend`` itself when it is a launch
    backend, the emulator for ``"emulator"``, ``None`` for ``"numpy"`` (the NumPy
    reference, which the tests check the kernels against), CuPy for CuPy arrays, else the
    numba kernels. Backends are made once per process."""
    if backend == "emulator":
        return _emulator()
    if backend == "numpy":
        return None
    if backend is not None:
        return backend
    first = images[0] if isinstance(images, (list, tuple)) and len(images) else images
    if type(first).__module__.startswith("cupy"):
        return _cupy()
    return numba_backend()


@functools.lru_cache(maxsize=None)
def numba_backend():
    from dali_regaug import extras

    extras.numba()
    return NumbaBackend()


@functools.lru_cache(maxsize=None)
def _emulator():
    return EmulatorBackend()


@functools.lru_cache(maxsize=None)
def _cupy():
    return CupyBackend()


def blocks_per_sample(pixels: int, samples: int, block: int, max_grid_x: int) -> int:
    """Blocks along x for samples of at most ``pixels`` pixels: about ``PIXELS_PER_THREAD``
    pixels per thread, but at least ``MIN_BLOCKS`` blocks in all while the samples have
    pixels for them, and at most ``max_grid_x``."""
    one_each = -(-pixels // block)  # one pixel per thread
    wanted = max(-(-pixels // (block * PIXELS_PER_THREAD)), -(-MIN_BLOCKS // samples))
    return int(max(1, min(max_grid_x, one_each, wanted)))


def workspace_on(workspace, backend):
    """``workspace(nbytes, backend)`` bound to a launch backend (None stays None)."""
    return None if workspace is None else functools.partial(workspace, backend=backend)


def index_type(max_elements: int, stride: int) -> str:
    """``"i32"`` when every index and index + stride stays below 2**31, else ``"i64"``."""
    return "i32" if max_elements + stride < INT32_LIMIT else "i64"


def launch(op: str, images, params, *, layout: str, backend, args=(), images2=None,
           out=None, workspace=None, block: int = BLOCK,
           max_grid_x: int = MAX_GRID_X, max_grid_y: int = MAX_GRID_Y,
           index: str | None = None):
    """Run kernel ``op`` once over the batch and return the outputs.

    Everything runs with the images' device current. The host work is a fixed number of
    NumPy operations for a stacked batch (pointers are ``base + i * stride``); the table,
    the host records and the host array arguments go to the device in one copy.

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
    backend : CupyBackend, NumbaBackend or EmulatorBackend
    args : tuple
        Kernel arguments after ``(table, channels)``: NumPy scalars, or host NumPy arrays
        (copied with the table; the kernel gets their device address).
    images2 : list of arrays or array, optional
        Second source (the composite's ``b``), same shapes as ``images``.
    out : array, optional
        The stacked outputs (see :func:`dali_regaug.batch.check_out`); it may be
        ``images`` itself for kernels that read and write each element at one index.
    workspace : callable, optional
        ``workspace(nbytes)`` gives a reused uint8 device buffer for the outputs when
        ``out`` is not given (the DALI bodies, whose outputs DALI copies).
    block, max_grid_x, max_grid_y : int
        Threads per block, the cap on blocks per sample (smaller values exercise the
        grid-stride loop) and on samples per launch (CUDA's ``gridDim.y`` limit: a larger
        batch takes several launches).
    index : {None, "i32", "i64"}
        Index type of the variant; by default the narrowest that fits.

    Returns
    -------
    Outputs in the structure of ``images``: a list of arrays, or one stacked array.
    """
    b = batch_mod.describe(images, layout)
    n = len(b.arrays)
    if not n:
        return images if b.stacked else []
    with backend.device_of(b.arrays):
        shapes = batch_mod.shapes(b.arrays)
        same = b.stacked or all(s == shapes[0] for s in shapes)
        table = np.zeros(n, TABLE_DTYPE)
        table["in"], keep = _addresses(b.arrays, backend)
        keep2 = None
        if images2 is not None:
            table["in2"], keep2 = _addresses(images2, backend)
        size = np.asarray([int(np.prod(s)) for s in shapes[:1 if same else n]], np.int64)
        if out is not None:
            out_all = batch_mod.check_out(out, b.arrays)
        else:
            total = int(size.sum()) * (n if same else 1)
            if workspace is not None:
                out_all = workspace(total * b.dtype.itemsize)[:total * b.dtype.itemsize] \
                    .view(b.dtype)
            else:
                out_all = backend.empty(total, b.dtype)
            if same:
                out_all = out_all.reshape(n, *shapes[0])
        starts = np.arange(n, dtype=np.uint64) * np.uint64(size[0]) if same else \
            np.concatenate([[0], np.cumsum(size[:-1])]).astype(np.uint64)
        table["out"] = backend.pointer(out_all) + starts * np.uint64(b.dtype.itemsize)
        if out is not None:
            nbytes = np.broadcast_to(size, n) * b.dtype.itemsize
            base = backend.pointer(out_all)
            batch_mod.check_aliases(table, nbytes, base, base + out_all.nbytes)
        table["height"], table["width"] = b.h, b.w
        hw = b.h * b.w
        grid_x = blocks_per_sample(int(hw.max()), n, block, max_grid_x)
        index = index or index_type(int((hw * b.c).max()), grid_x * block)
        kernel = backend.kernel(op, kernel_name(op, b.dtype.name, layout, index))
        dev, dev_args = _upload(table, params, args, backend)
        base, row = backend.pointer(dev), TABLE_DTYPE.itemsize
        for first in range(0, n, max_grid_y):
            kernel((grid_x, min(max_grid_y, n - first), 1), (block, 1, 1),
                   (np.uint64(base + first * row), np.int32(b.c), *dev_args))
        del keep, keep2, dev  # stream-ordered release on CuPy's pool
    if b.stacked and (same or out is not None):
        return out_all
    if same or out is not None:
        return list(out_all)
    return [out_all[int(s):int(s) + int(z)].reshape(shape)
            for s, z, shape in zip(starts, np.broadcast_to(size, n), shapes)]


def _addresses(arrays, backend):
    """``(n,)`` device address of each sample, and the contiguous arrays behind them."""
    xp = backend.xp
    if hasattr(arrays, "ndim"):  # one stacked array
        a = arrays if arrays.flags.c_contiguous else xp.ascontiguousarray(arrays)
        step = a.nbytes // len(a)
        return backend.pointer(a) + np.arange(len(a), dtype=np.uint64) * np.uint64(step), a
    a = [x if x.flags.c_contiguous else xp.ascontiguousarray(x) for x in arrays]
    return np.fromiter((backend.pointer(x) for x in a), np.uint64, len(a)), a


def _upload(table, params, args, backend):
    """One host-to-device copy of the table, the host records and the host array
    arguments; returns the device buffer (the table first) and the kernel arguments, in
    which a device address is passed as a 64-bit integer (a pointer's bytes: no device
    array views to make per call)."""
    records = isinstance(params, np.ndarray) and params.dtype.names
    parts = [table.view(np.uint8)]
    if records:
        parts.append(params.view(np.uint8).reshape(-1))
    host_args = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    parts += [np.ascontiguousarray(args[i]).view(np.uint8).reshape(-1) for i in host_args]
    offsets = [0]
    for p in parts:
        offsets.append(offsets[-1] + -(-p.nbytes // ALIGN) * ALIGN)
    dev = backend.empty(offsets[-1])
    base = backend.pointer(dev)
    if records:
        table["params"] = base + offsets[1] + \
            np.arange(len(params), dtype=np.uint64) * np.uint64(params.dtype.itemsize)
    else:  # per-sample device bytes, read in place
        table["params"] = np.fromiter((backend.pointer(p) for p in params), np.uint64,
                                      len(params))
    host = np.empty(offsets[-1], np.uint8)
    for part, at in zip(parts, offsets):
        host[at:at + part.nbytes] = part
    backend.upload(dev, host)
    dev_args = list(args)
    for k, i in enumerate(host_args):
        dev_args[i] = np.uint64(base + offsets[len(parts) - len(host_args) + k])
    return dev, dev_args
