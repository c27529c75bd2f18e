"""Numba twin of ``kernels/composite.cu``: ``out = M * a + (1 - M) * b`` with ``M = w_in``
inside the sample's boxes and ``w_out`` outside (CutMix, MixUp, KeepAugment's paste). Where
``M`` is 1 or 0 the pixel is copied; elsewhere the float32 blend is stored."""

from __future__ import annotations

import numpy as np
from numba import njit

from dali_regaug.kernels.cpu.common import F32, JIT, KEEP, clipped_box, copy_span, load, \
    paint_boxes, row_extent, run_end, store
from dali_regaug.kernels.cpu.erase import BOXES, COUNT, W_IN, W_OUT


@njit(**JIT)
def blend_span(out, a, b, p0, n, m, hw, nc, hwc):
    """Pixels ``p0 .. p0 + n``: copied from ``a`` (``m == 1``) or ``b`` (``m == 0``), else
    the blend ``m * a + (1 - m) * b``."""
    if m == F32(1.0):
        copy_span(out, a, p0, n, hw, nc, hwc)
    elif m == F32(0.0):
        copy_span(out, b, p0, n, hw, nc, hwc)
    else:
        for c in range(1 if hwc else nc):  # contiguous stretches of elements
            e0 = p0 * nc if hwc else c * hw + p0
            for e in range(e0, e0 + (n * nc if hwc else n)):
                out[e] = store(m * load(a[e]) + (F32(1.0) - m) * load(b[e]), out)


@njit(**JIT)
def sample(out, a, b, rec, h, w, nc, hwc, mode, values):
    """Out of place, the boxes are blended over the whole image's blend. In place on ``a``
    each pixel is written once: rows no box crosses take ``w_out`` together; a crossed row
    takes ``w_out`` outside the boxes' extent and, inside it, ``w_in`` or ``w_out`` in runs
    of one box."""
    i4, f4 = rec.view(np.int32), rec.view(np.float32)
    w_in, w_out = f4[W_IN], f4[W_OUT]
    hw, count, start = h * w, i4[COUNT], 0
    if out.ctypes.data != a.ctypes.data:  # all at w_out, then each box at w_in over it
        blend_span(out, a, b, 0, hw, w_out, hw, nc, hwc)
        for i in range(count):
            y0, x0, y1, x1 = clipped_box(i4, BOXES + 4 * i, h, w)
            for y in range(y0, y1):
                if x0 < x1:
                    blend_span(out, a, b, y * w + x0, x1 - x0, w_in, hw, nc, hwc)
        return
    codes = np.empty(w, np.int64)
    for y in range(h):  # in place on a: each pixel read before it is written
        lo, hi, one = row_extent(i4, BOXES, count, y, w)
        if lo >= hi:
            continue
        blend_span(out, a, b, start * w, (y - start) * w, w_out, hw, nc, hwc)
        blend_span(out, a, b, y * w, lo, w_out, hw, nc, hwc)
        blend_span(out, a, b, y * w + hi, w - hi, w_out, hw, nc, hwc)
        if one >= 0:
            blend_span(out, a, b, y * w + lo, hi - lo, w_in, hw, nc, hwc)
            start = y + 1
            continue
        paint_boxes(codes, i4, BOXES, count, y, lo, hi)
        x0 = lo
        while x0 < hi:
            x1 = run_end(codes, x0, hi)
            m = w_out if codes[x0] == KEEP else w_in
            blend_span(out, a, b, y * w + x0, x1 - x0, m, hw, nc, hwc)
            x0 = x1
        start = y + 1
    blend_span(out, a, b, start * w, (h - start) * w, w_out, hw, nc, hwc)
