"""How the CPU kernels receive a sample: from a row of the launch table (the launcher's
``kernel(grid, block, args)``, as the emulator and CuPy receive it), or from DALI's
``numba_function`` (raw pointers and shapes, per sample or per batch).

DALI's CPU ``numba_function`` calls a C function through these signatures (those of
``nvidia.dali.plugin.numba``): ``run(outs, out_shapes, out_ndims, num_outs, ins, in_shapes,
in_ndims, num_ins[, num_samples])`` and ``setup(out_shapes, out_ndims, num_outs, in_shapes,
in_ndims, num_ins, num_samples)``, where ``outs``/``ins`` point at the data addresses
(``[input][sample]``) and ``*_shapes`` at pointers to each shape. The plugin compiles its
own wrapper around a Python function at every pipeline build (over a second each); these
are compiled ahead and cached on disk, so a build only takes their addresses.

The inputs of an operator's node are the images, the partners (when it has them), the
record bytes and the settings (float32: the kernel's index in ``dali_regaug.kernels.OPS``,
the fill mode, 1 for HWC, the dtype code, then the fill values per channel).
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types

from dali_regaug import records
from dali_regaug.kernels import cpu
from dali_regaug.kernels.cpu.common import JIT, address

RUN = types.void(types.uint64, types.uint64, types.uint64, types.int32,
                 types.uint64, types.uint64, types.uint64, types.int32)
RUN_BATCH = types.void(types.uint64, types.uint64, types.uint64, types.int32,
                       types.uint64, types.uint64, types.uint64, types.int32, types.int32)
SETUP = types.void(types.uint64, types.uint64, types.int32, types.uint64, types.uint64,
                   types.int32, types.int32)
CACHE = dict(cache=cpu.CACHE, nopython=True)

# Per dtype of dali_regaug.kernels.DTYPES (the settings' dtype code is the index there), an
# empty array of the element type the kernels use: float16 is handled as its bits.
LIKE = tuple(np.zeros(0, t) for t in (np.uint8, np.uint16, np.float32))
U8, U16, F32 = LIKE
OP, MODE, HWC, DTYPE, SETTINGS_HEAD = range(5)  # the settings' words; the fill values follow
COLUMNS = len(records.TABLE.names)
IN, IN2, OUT, PARAMS, HEIGHT, WIDTH = (records.TABLE.names.index(n) for n in (
    "in", "in2", "out", "params", "height", "width"))


@njit(**JIT)
def table_row(table, i, nc, like):
    """``(out, x, x2, record address, h, w)`` of row ``i`` of the launch table (``x2`` is
    ``x`` when the row has no second source)."""
    t = carray(address(table), (i + 1, COLUMNS), np.uint64)
    h, w = np.int64(t[i, HEIGHT]), np.int64(t[i, WIDTH])
    n = h * w * nc
    x = carray(address(t[i, IN]), n, like.dtype)
    x2 = carray(address(t[i, IN2]), n, like.dtype) if t[i, IN2] else x
    return carray(address(t[i, OUT]), n, like.dtype), x, x2, t[i, PARAMS], h, w


@njit(**JIT)
def values_at(addr, n):
    """The kernel's ``fill`` argument: ``n`` float32 at ``addr`` (none at 0)."""
    return carray(address(addr), n if addr else 0, np.float32)


@njit(**JIT)
def pointers(addr, inputs, samples):
    """DALI's ``[input][sample]`` table of addresses (data, or shapes)."""
    return carray(address(addr), (inputs, samples), np.uint64)


@njit(**JIT)
def shape(shapes, k, s, ndim):
    return carray(address(shapes[k, s]), ndim, np.int64)


@njit(**JIT)
def settings(ins, in_shapes, num_ins, samples, s):
    """The settings of sample ``s`` (the last input) and their dtype code."""
    k = num_ins - 1
    cfg = carray(address(pointers(ins, num_ins, samples)[k, s]),
                 shape(pointers(in_shapes, num_ins, samples), k, s, 1)[0], np.float32)
    return cfg, np.int64(cfg[DTYPE])


@njit(**JIT)
def dali_sample(outs, ins, in_shapes, num_ins, samples, s, x2_at, cfg, like):
    """``(out, x, x2, record, h, w, nc, hwc, mode, values)`` of sample ``s`` under its
    settings ``cfg``; the second source is sample ``x2_at`` of the images (the batch form's
    partner) when it is not an input of its own."""
    data, shapes = pointers(ins, num_ins, samples), pointers(in_shapes, num_ins, samples)
    hwc = cfg[HWC] != 0
    dims = shape(shapes, 0, s, 3)
    h, w, nc = (dims[0], dims[1], dims[2]) if hwc else (dims[1], dims[2], dims[0])
    n = h * w * nc
    x = carray(address(data[0, s]), n, like.dtype)
    x2 = carray(address(data[0, x2_at] if x2_at >= 0 else data[1, s]), n, like.dtype) \
        if num_ins == 4 else x
    rec = carray(address(data[num_ins - 2, s]), shape(shapes, num_ins - 2, s, 1)[0], np.uint8)
    out = carray(address(pointers(outs, 1, samples)[0, s]), n, like.dtype)
    return out, x, x2, rec, h, w, nc, hwc, np.int64(cfg[MODE]), cfg[SETTINGS_HEAD:]


@njit(**JIT)
def partner(ins, num_ins, samples, s):
    """The batch form's partner index of sample ``s`` (input 1, int32 scalars)."""
    return np.int64(carray(address(pointers(ins, num_ins, samples)[1, s]), 1, np.int32)[0])
