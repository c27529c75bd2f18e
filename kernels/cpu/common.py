"""Numba twin of ``kernels/common.cuh``: the hash, the element stores, and the copies and
box geometry every CPU kernel shares (the fills are in :mod:`.fill`).

Each function here mirrors the CUDA function of the same name with the same operations in
the same order, in float32 where the CUDA code is float32, so integer and exact results
match the emulator bit for bit (``tests/test_cpu_kernels.py``). Numba compiles without
fast-math, so products and sums are not fused, as in the ``--fmad=false`` GPU build.
Records are read from their bytes at the offsets :mod:`dali_regaug.records` owns.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from dali_regaug import records
from dali_regaug.kernels.cpu import CACHE

JIT = dict(cache=CACHE, nogil=True)  # every kernel: compiled once per machine, GIL released
# the per-value helpers, inlined into their callers' loops (numba's own inlining: a cached
# callee is object code that LLVM could not inline, and a loop with a call in it is not
# vectorized)
INLINE = dict(JIT, inline="always")

U64 = np.uint64
F32 = np.float32
STREAM_PIXEL, STREAM_REGION = U64(records.STREAM_PIXEL), U64(records.STREAM_REGION)
STREAM_UNIT = U64(records.STREAM_UNIT)
FILL_VALUES, FILL_REGION = records.FILL_VALUES, records.FILL_REGION
KEEP = -1  # a row code: the pixel keeps its input


def word(dtype: np.dtype, field: str, size: int = 4) -> int:
    """Index of ``field`` in a record viewed as ``size``-byte words."""
    offset = dtype.fields[field][1]
    assert offset % size == 0, (dtype, field)
    return offset // size


@intrinsic
def address(typingctx, addr):
    """A pointer from an integer address (a table entry, or DALI's)."""
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(addr), codegen


@intrinsic
def float_bits(typingctx, f):
    """``__float_as_uint``: the bits of a float32."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.uint32(types.float32), codegen


@intrinsic
def bits_float(typingctx, u):
    """``__uint_as_float``: a float32 from its bits."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.uint32), codegen


@njit(**INLINE)
def mix64(z):
    z = z + U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


@njit(**INLINE)
def hash3(key, stream, counter):
    return mix64(key ^ mix64((stream << U64(56)) | counter))


@njit(**INLINE)
def float_to_half(f):
    """float32 -> float16 bits, round to nearest even (as NumPy's astype)."""
    x = float_bits(f)
    sign = (x >> np.uint32(16)) & np.uint32(0x8000)
    mag = x & np.uint32(0x7FFFFFFF)
    if mag >= np.uint32(0x7F800000):
        nan = np.uint32(0x200) if mag > np.uint32(0x7F800000) else np.uint32(0)
        return np.uint16(sign | np.uint32(0x7C00) | nan)
    if mag >= np.uint32(0x477FF000):
        return np.uint16(sign | np.uint32(0x7C00))
    if mag < np.uint32(0x38800000):
        if mag < np.uint32(0x33000000):
            return np.uint16(sign)
        shift = np.uint32(126) - (mag >> np.uint32(23))
        mant = (mag & np.uint32(0x7FFFFF)) | np.uint32(0x800000)
        q = mant >> shift
        rem = mant & ((np.uint32(1) << shift) - np.uint32(1))
        half = np.uint32(1) << (shift - np.uint32(1))
        if rem > half or (rem == half and (q & np.uint32(1))):
            q += np.uint32(1)
        return np.uint16(sign | q)
    q = (mag - np.uint32(0x38000000)) >> np.uint32(13)
    rem = mag & np.uint32(0x1FFF)
    if rem > np.uint32(0x1000) or (rem == np.uint32(0x1000) and (q & np.uint32(1))):
        q += np.uint32(1)
    return np.uint16(sign | q)


@njit(**INLINE)
def half_to_float(h):
    """float16 bits -> float32 (exact)."""
    sign = (np.uint32(h) & np.uint32(0x8000)) << np.uint32(16)
    e = (np.uint32(h) >> np.uint32(10)) & np.uint32(0x1F)
    m = np.uint32(h) & np.uint32(0x3FF)
    if e == np.uint32(0x1F):
        return bits_float(sign | np.uint32(0x7F800000) | (m << np.uint32(13)))
    if e != np.uint32(0):
        return bits_float(sign | ((e + np.uint32(112)) << np.uint32(23)) | (m << np.uint32(13)))
    v = F32(m) * F32(5.9604644775390625e-08)
    return -v if sign else v


def store(v, like):
    """``Elem<T>::store``: float32 ``v`` as an element of ``like``'s array."""


def load(e):
    """``Elem<T>::load``: an element as float32."""


@overload(store, jit_options=JIT)
def _store(v, like):
    if like.dtype == types.uint8:
        def to_u8(v, like):  # rintf(fminf(fmaxf(v, 0), 255)): NaN gives 0
            lo = v if v > F32(0.0) else F32(0.0)
            return np.uint8(np.rint(lo if lo < F32(255.0) else F32(255.0)))
        return to_u8
    if like.dtype == types.uint16:
        return lambda v, like: float_to_half(v)
    return lambda v, like: v


@overload(load, jit_options=JIT)
def _load(e):
    if e == types.uint8:
        return lambda e: F32(e)
    if e == types.uint16:
        return lambda e: half_to_float(e)
    return lambda e: e


@njit(**JIT)
def copy_span(out, x, p0, n, hw, nc, hwc):
    """Pixels ``p0 .. p0 + n`` of one sample copied from ``x`` (nothing to do in place)."""
    if out.ctypes.data == x.ctypes.data:
        return
    if hwc:
        out[p0 * nc:(p0 + n) * nc] = x[p0 * nc:(p0 + n) * nc]
    else:
        for c in range(nc):
            out[c * hw + p0:c * hw + p0 + n] = x[c * hw + p0:c * hw + p0 + n]


@njit(**INLINE)
def clipped_box(i4, b, h, w):
    """``(y0, x0, y1, x1)``: the box of int words ``i4[b:b + 4]`` clipped to the image."""
    return max(i4[b], 0), max(i4[b + 1], 0), min(i4[b + 2], h), min(i4[b + 3], w)


@njit(**INLINE)
def run_end(codes, x0, hi):
    """The end of the run of equal codes that starts at ``x0`` (before ``hi``)."""
    x1 = x0 + 1
    while x1 < hi and codes[x1] == codes[x0]:
        x1 += 1
    return x1


@njit(**JIT)
def row_extent(i4, first, count, y, w):
    """``(lo, hi, crossing)``: the columns that the ``count`` boxes (int words ``y0, x0, y1,
    x1`` from ``i4[first]``) crossing row ``y`` span, clipped to the row (``lo >= hi``:
    none), and that box when only one crosses it (else -1)."""
    lo, hi, crossing = w, 0, -1
    for i in range(count):
        y0, x0, y1, x1 = clipped_box(i4, first + 4 * i, y + 1, w)  # rows past y: no matter
        if y0 <= y < y1 and x0 < x1:
            crossing = i if lo >= hi else -1  # the first to cross, or several
            lo, hi = min(lo, x0), max(hi, x1)
    return lo, hi, crossing


@njit(**JIT)
def paint_boxes(codes, i4, first, count, y, lo, hi):
    """``codes[lo:hi]``: the last box that holds pixel ``(y, x)``, or ``KEEP``;
    ``rectset.cuh``'s ``last_box`` for a stretch of a row."""
    codes[lo:hi] = KEEP
    for i in range(count):
        b = first + 4 * i
        if i4[b] <= y < i4[b + 2]:
            x0, x1 = max(i4[b + 1], lo), min(i4[b + 3], hi)
            if x0 < x1:
                codes[x0:x1] = i
