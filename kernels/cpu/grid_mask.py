"""Numba twin of ``kernels/grid_mask.cu``: GridMask (Chen et al. 2020), each pixel's unit
and square evaluated as the CUDA kernel does (rotated grids per pixel in float32; an
axis-aligned grid by stepping along the row, which gives the same integers)."""

from __future__ import annotations

import numpy as np
from numba import njit

from dali_regaug import records
from dali_regaug.kernels.cpu.common import JIT, KEEP, STREAM_UNIT, U64, copy_span, \
    hash3, stored_values, word, write_row

G = records.GRID_MASK
KEY = word(G, "key", 8)
APPLY, D, KEEP_LEN, OFF_X, OFF_Y = (word(G, f) for f in ("apply", "d", "keep", "off_x", "off_y"))
REVERSE, ROTATED, THRESHOLD = (word(G, f) for f in ("reverse", "rotated", "unit_threshold"))
COS, SIN = word(G, "cos_t"), word(G, "sin_t")
UNIT_ONE = np.uint32(records.UNIT_ONE)
SIZE = G.itemsize  # bytes of a record
F32 = np.float32


@njit(**JIT)
def grid_point(rec, x, y, h, w):
    """``(gx, gy)``: pixel ``(x, y)`` in the grid's frame (rotated back about the centre)."""
    f4 = rec.view(np.float32)
    cx, cy = F32(w) * F32(0.5), F32(h) * F32(0.5)
    px, py = (F32(x) + F32(0.5)) - cx, (F32(y) + F32(0.5)) - cy
    gx = np.int64(np.floor((f4[COS] * px + f4[SIN] * py) + cx))
    gy = np.int64(np.floor((f4[COS] * py - f4[SIN] * px) + cy))
    return gx, gy


@njit(**JIT)
def unit_code(ux, uy):
    return np.int64(((uy & 0xFFFFFF) << 24) | (ux & 0xFFFFFF))


@njit(**JIT)
def dropped(rec, unit, in_square):
    """Whether a pixel of ``unit`` is dropped, given whether it lies in the unit's square."""
    i4 = rec.view(np.int32)
    threshold = rec.view(np.uint32)[THRESHOLD]
    if in_square and threshold < UNIT_ONE:
        in_square = (hash3(rec.view(np.uint64)[KEY], STREAM_UNIT, U64(unit)) >> U64(40)) < \
            U64(threshold)
    return in_square != (i4[REVERSE] != 0)


@njit(**JIT)
def row_codes(codes, rec, y, h, w):
    """Each pixel's unit code where row ``y`` is dropped, else ``KEEP``."""
    i4 = rec.view(np.int32)
    d, side = np.int64(i4[D]), np.int64(i4[D] - i4[KEEP_LEN])
    off_x, off_y = np.int64(i4[OFF_X]), np.int64(i4[OFF_Y])
    if i4[ROTATED]:
        for x in range(w):
            gx, gy = grid_point(rec, x, y, h, w)
            ux, uy = (gx - off_x) // d, (gy - off_y) // d  # floor_div
            unit = unit_code(ux, uy)
            inside = gx - off_x - ux * d < side and gy - off_y - uy * d < side
            codes[x] = unit if dropped(rec, unit, inside) else KEEP
        return
    uy = (y - off_y) // d  # floor division, as the CUDA code's floor_div
    row_inside = y - off_y - uy * d < side
    ux = -off_x // d
    lx = -off_x - ux * d
    unit = unit_code(ux, uy)
    drop_in, drop_out = dropped(rec, unit, row_inside), dropped(rec, unit, False)
    for x in range(w):
        codes[x] = unit if (drop_in if lx < side else drop_out) else KEEP
        lx += 1
        if lx == d:  # the next unit: its code and its square's draw
            lx, ux = 0, ux + 1
            unit = unit_code(ux, uy)
            drop_in = dropped(rec, unit, row_inside)


@njit(**JIT)
def sample(out, x, x2, rec, h, w, nc, hwc, mode, values):
    hw = h * w
    if rec.view(np.int32)[APPLY] == 0:
        copy_span(out, x, 0, hw, hw, nc, hwc)
        return
    key = rec.view(np.uint64)[KEY]
    stored = stored_values(values, nc, out)
    codes = np.empty(w, np.int64)
    for y in range(h):
        row_codes(codes, rec, y, h, w)
        write_row(out, x, y, w, hw, nc, hwc, codes, mode, stored, key)
