"""Numba twin of ``kernels/composite.cu``: ``out = M * a + (1 - M) * b`` with ``M = w_in``
inside the sample's boxes and ``w_out`` outside (CutMix, MixUp, KeepAugment's paste). Where
``M`` is 1 or 0 the pixel is copied; elsewhere the float32 blend is stored."""

from __future__ import annotations

import numpy as np
from numba import njit

from dali_regaug.kernels.cpu.common import F32, JIT, KEEP, copy_span, load, paint_boxes, store
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
    i4, f4 = rec.view(np.int32), rec.view(np.float32)
    w_in, w_out = f4[W_IN], f4[W_OUT]
    codes = np.empty(w, np.int64)
    hw = h * w
    if not i4[COUNT]:
        blend_span(out, a, b, 0, hw, w_out, hw, nc, hwc)
        return
    for y in range(h):
        if not paint_boxes(codes, i4, BOXES, i4[COUNT], y, w):
            blend_span(out, a, b, y * w, w, w_out, hw, nc, hwc)
            continue
        x0 = 0
        while x0 < w:
            inside = codes[x0] != KEEP
            x1 = x0 + 1
            while x1 < w and (codes[x1] != KEEP) == inside:
                x1 += 1
            blend_span(out, a, b, y * w + x0, x1 - x0, w_in if inside else w_out, hw, nc, hwc)
            x0 = x1
