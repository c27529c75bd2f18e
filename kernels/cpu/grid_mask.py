"""Numba twin of ``kernels/grid_mask.cu``: GridMask (Chen et al. 2020), each pixel's unit
and square as the CUDA kernel finds them (a rotated grid per pixel in float32; an
axis-aligned one a unit at a time, which gives the same integers)."""

from __future__ import annotations

import numpy as np
from numba import njit

from dali_regaug import records
from dali_regaug.kernels.cpu.common import INLINE, JIT, KEEP, STREAM_UNIT, U64, copy_span, hash3, \
    word
from dali_regaug.kernels.cpu.fill import fill_runs, fill_span, stored_values

G = records.GRID_MASK
KEY = word(G, "key", 8)
APPLY, D, KEEP_LEN, OFF_X, OFF_Y = (word(G, f) for f in ("apply", "d", "keep", "off_x", "off_y"))
REVERSE, ROTATED, THRESHOLD = (word(G, f) for f in ("reverse", "rotated", "unit_threshold"))
COS, SIN = word(G, "cos_t"), word(G, "sin_t")
UNIT_ONE = np.uint32(records.UNIT_ONE)
SIZE = G.itemsize  # bytes of a record
F32 = np.float32


@njit(**INLINE)
def grid_point(rec, x, y, h, w):
    """``(gx, gy)``: pixel ``(x, y)`` in the grid's frame (rotated back about the centre)."""
    f4 = rec.view(np.float32)
    cx, cy = F32(w) * F32(0.5), F32(h) * F32(0.5)
    px, py = (F32(x) + F32(0.5)) - cx, (F32(y) + F32(0.5)) - cy
    gx = np.int64(np.floor((f4[COS] * px + f4[SIN] * py) + cx))
    gy = np.int64(np.floor((f4[COS] * py - f4[SIN] * px) + cy))
    return gx, gy


@njit(**INLINE)
def geometry(rec):
    """``(d, side, off_x, off_y)``: the unit, its square's side and the grid's offsets."""
    i4 = rec.view(np.int32)
    return np.int64(i4[D]), np.int64(i4[D] - i4[KEEP_LEN]), np.int64(i4[OFF_X]), \
        np.int64(i4[OFF_Y])


@njit(**INLINE)
def unit_code(ux, uy):
    return np.int64(((uy & 0xFFFFFF) << 24) | (ux & 0xFFFFFF))


@njit(**INLINE)
def dropped(rec, unit, in_square):
    """Whether a pixel of ``unit`` is dropped, given whether it lies in the unit's square."""
    i4 = rec.view(np.int32)
    threshold = rec.view(np.uint32)[THRESHOLD]
    if in_square and threshold < UNIT_ONE:
        in_square = (hash3(rec.view(np.uint64)[KEY], STREAM_UNIT, U64(unit)) >> U64(40)) < \
            U64(threshold)
    return in_square != (i4[REVERSE] != 0)


@njit(**JIT)
def rotated_row(codes, rec, y, h, w):
    """Each pixel's unit code where row ``y`` of a rotated grid is dropped, else ``KEEP``."""
    d, side, off_x, off_y = geometry(rec)
    for x in range(w):
        gx, gy = grid_point(rec, x, y, h, w)
        ux, uy = (gx - off_x) // d, (gy - off_y) // d  # floor_div
        unit = unit_code(ux, uy)
        inside = gx - off_x - ux * d < side and gy - off_y - uy * d < side
        codes[x] = unit if dropped(rec, unit, inside) else KEEP


@njit(**JIT)
def paint_row(out, rec, y, w, hw, nc, hwc, mode, stored, key):
    """The dropped pixels of row ``y`` of an axis-aligned grid, a unit at a time: each unit
    spans ``[ux * d + off_x, (ux + 1) * d + off_x)``, its square the first ``d - keep``
    pixels of that (on the rows of the squares' band)."""
    d, side, off_x, off_y = geometry(rec)
    uy = (y - off_y) // d  # floor division, as the CUDA code's floor_div
    band = y - off_y - uy * d < side
    for ux in range(-off_x // d, (w - 1 - off_x) // d + 1):
        unit = unit_code(ux, uy)
        x0 = ux * d + off_x
        for lo, hi, inside in ((x0, x0 + side, band), (x0 + side, x0 + d, False)):
            lo, hi = max(lo, 0), min(hi, w)
            if lo < hi and dropped(rec, unit, inside):
                fill_span(out, y * w + lo, hi - lo, hw, nc, hwc, unit, mode, stored, key)


@njit(**JIT)
def sample(out, x, x2, rec, h, w, nc, hwc, mode, values):
    """The image is copied, then its dropped pixels filled: an axis-aligned grid a unit at a
    time on the rows where anything drops, a rotated one in runs of its pixels' units."""
    hw, i4 = h * w, rec.view(np.int32)
    copy_span(out, x, 0, hw, hw, nc, hwc)
    if i4[APPLY] == 0:
        return
    key = rec.view(np.uint64)[KEY]
    stored = stored_values(values, nc, out)
    if i4[ROTATED]:
        codes = np.empty(w, np.int64)
        for y in range(h):
            rotated_row(codes, rec, y, h, w)
            fill_runs(out, y, w, hw, nc, hwc, codes, mode, stored, key)
        return
    d, side, _, off_y = geometry(rec)
    for y in range(h):
        if i4[REVERSE] or (y - off_y) % d < side:  # the band of squares (floor modulo)
            paint_row(out, rec, y, w, hw, nc, hwc, mode, stored, key)
