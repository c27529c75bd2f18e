"""The CPU kernels' entry points, one per way of calling them, each dispatching on the
kernel (``dali_regaug.kernels.OPS``) and on the dtype: the launch table (``run_table``),
DALI's per-sample call (``dali_sample``), DALI's per-batch call with partners taken by index
from the batch (``dali_batch``, CutMix and MixUp: no permuted copy), and DALI's shape setup
(``same_shape``)."""

from __future__ import annotations

import numpy as np
from numba import carray, cfunc, njit

from dali_regaug.kernels import OPS
from dali_regaug.kernels.cpu import composite, entry, erase, grid_mask
from dali_regaug.kernels.cpu.common import JIT, address

GRID_MASK, ERASE, COMPOSITE = (OPS.index(op) for op in ("grid_mask", "erase", "composite"))


@njit(**JIT)
def apply(op, out, x, x2, rec, h, w, nc, hwc, mode, values):
    """Kernel ``op`` on one sample."""
    if op == GRID_MASK:
        grid_mask.sample(out, x, x2, rec, h, w, nc, hwc, mode, values)
    elif op == ERASE:
        erase.sample(out, x, x2, rec, h, w, nc, hwc, mode, values)
    else:
        composite.sample(out, x, x2, rec, h, w, nc, hwc, mode, values)


@njit(**JIT)
def record(op, addr):
    """The record bytes at ``addr``."""
    if op == GRID_MASK:
        return carray(address(addr), grid_mask.SIZE, np.uint8)
    return erase.record(addr)


@njit(**JIT)
def run_table(op, table, first, count, nc, hwc, mode, values, like):
    """Samples ``first .. count`` of the launch table; ``values`` is the address of the
    fill's float32 per channel (0: none)."""
    fill = entry.values_at(values, nc)
    for i in range(first, count):
        out, x, x2, params, h, w = entry.table_row(table, i, nc, like)
        apply(op, out, x, x2, record(op, params), h, w, nc, hwc, mode, fill)


@njit(**JIT)
def dali_one(outs, ins, in_shapes, num_ins, samples, s, x2_at):
    """Sample ``s`` of a DALI call, in its dtype."""
    cfg, code = entry.settings(ins, in_shapes, num_ins, samples, s)
    op = np.int64(cfg[entry.OP])
    if code == 0:
        apply(op, *entry.dali_sample(outs, ins, in_shapes, num_ins, samples, s, x2_at, cfg,
                                     entry.U8))
    elif code == 1:
        apply(op, *entry.dali_sample(outs, ins, in_shapes, num_ins, samples, s, x2_at, cfg,
                                     entry.U16))
    else:
        apply(op, *entry.dali_sample(outs, ins, in_shapes, num_ins, samples, s, x2_at, cfg,
                                     entry.F32))


@cfunc(entry.RUN, **entry.CACHE)
def dali_sample(outs, out_shapes, out_ndims, num_outs, ins, in_shapes, in_ndims, num_ins):
    dali_one(outs, ins, in_shapes, num_ins, 1, 0, -1)


@cfunc(entry.RUN_BATCH, **entry.CACHE)
def dali_batch(outs, out_shapes, out_ndims, num_outs, ins, in_shapes, in_ndims, num_ins,
               num_samples):
    for s in range(num_samples):
        dali_one(outs, ins, in_shapes, num_ins, num_samples, s,
                 entry.partner(ins, num_ins, num_samples, s))


@cfunc(entry.SETUP, **entry.CACHE)
def same_shape(out_shapes, out_ndims, num_outs, in_shapes, in_ndims, num_ins, num_samples):
    """Every output has its images' shape."""
    outs = entry.pointers(out_shapes, num_outs, num_samples)
    ins = entry.pointers(in_shapes, num_ins, num_samples)
    for s in range(num_samples):
        entry.shape(outs, 0, s, 3)[:] = entry.shape(ins, 0, s, 3)
