"""What dropped pixels become in the CPU kernels (``common.cuh``'s ``fill_value``): the
constants per channel, one random value per channel per region, or per-pixel noise
(U{0..255} for uint8 data, N(0, 1) for float data), from the same hashes as the CUDA code.
A stretch of pixels of one region is filled at a time: constants and region values as
contiguous stores, float noise a channel at a time through :mod:`.noise`."""

from __future__ import annotations

import numpy as np
from numba import njit

from dali_regaug.kernels.cpu.common import F32, FILL_REGION, FILL_VALUES, JIT, KEEP, \
    STREAM_PIXEL, STREAM_REGION, U64, hash3, run_end, store
from dali_regaug.kernels.cpu.noise import normal, pixel_normals


@njit(**JIT)
def random_value(h, like):
    """The stored random fill from hash ``h``."""
    if like.itemsize == 1:
        return store(F32(h >> U64(56)), like)
    return store(normal(h), like)


@njit(**JIT)
def stored_values(values, nc, like):
    """The constant fills as ``like``'s elements (``values`` may be empty: random fills)."""
    out = np.zeros(nc, like.dtype)
    for c in range(min(nc, len(values))):
        out[c] = store(values[c], like)
    return out


@njit(**JIT)
def constant_span(out, p0, n, hw, nc, hwc, values):
    """Pixels ``p0 .. p0 + n`` set to ``values`` (one per channel)."""
    if not hwc:
        for c in range(nc):
            out[c * hw + p0:c * hw + p0 + n] = values[c]
    elif (values == values[0]).all():  # one value: one contiguous fill
        out[p0 * nc:(p0 + n) * nc] = values[0]
    else:
        for c in range(nc):
            out[p0 * nc + c:(p0 + n) * nc:nc] = values[c]


@njit(**JIT)
def fill_span(out, p0, n, hw, nc, hwc, code, mode, stored, key):
    """Pixels ``p0 .. p0 + n`` filled, all of region ``code``."""
    if mode == FILL_VALUES:
        constant_span(out, p0, n, hw, nc, hwc, stored)
    elif mode == FILL_REGION:
        values = np.empty(nc, out.dtype)
        for c in range(nc):
            values[c] = random_value(hash3(key, STREAM_REGION, (U64(code) << U64(8)) | U64(c)),
                                     out)
        constant_span(out, p0, n, hw, nc, hwc, values)
    elif out.itemsize == 1:
        for p in range(p0, p0 + n):
            for c in range(nc):
                h = hash3(key, STREAM_PIXEL, (U64(p) << U64(8)) | U64(c))
                out[p * nc + c if hwc else c * hw + p] = np.uint8(h >> U64(56))
    else:
        noise = np.empty(n, np.float32)
        for c in range(nc):
            pixel_normals(noise, n, key, p0, c)
            at = p0 * nc + c if hwc else c * hw + p0
            for i in range(n):
                out[at + i * (nc if hwc else 1)] = store(noise[i], out)


@njit(**JIT)
def fill_runs(out, y, w, hw, nc, hwc, codes, mode, stored, key):
    """The pixels of row ``y`` whose code is not ``KEEP``, filled in runs of one code (the
    code is their region: a box, a grid unit)."""
    x0 = 0
    while x0 < w:
        x1 = run_end(codes, x0, w)
        if codes[x0] != KEEP:
            fill_span(out, y * w + x0, x1 - x0, hw, nc, hwc, codes[x0], mode, stored, key)
        x0 = x1
