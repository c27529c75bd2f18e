"""The float noise of the CPU kernels: ``common.cuh``'s Box-Muller ``sqrtf(-2 logf(u1)) *
cosf(2 pi u2)`` from the same two 24-bit uniforms of the same hash, with ``logf`` and
``cosf`` as branch-free float32 polynomials so that a stretch of pixels is computed with
SIMD instructions rather than a C library call per value.

The polynomials are Cephes' single-precision ``logf`` and ``sinf``/``cosf`` (minimax on
``[sqrt(1/2), sqrt(2))`` and ``[-pi/4, pi/4]``, about one unit in the last place each);
the cosine's argument is the same float32 product ``2 pi * u2`` the CUDA code forms, reduced
by multiples of pi/4 in three parts. The result stays within the documented few units in
the last place of the C library's and CUDA's (README, "CPU kernels").
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dali_regaug.kernels.cpu.common import F32, INLINE, JIT, STREAM_PIXEL, U64, bits_float, \
    float_bits, hash3

U32 = np.uint32
SQRT_HALF = F32(0.70710678118654752)
LN2_HI, LN2_LO = F32(0.693359375), F32(-2.12194440e-4)
FOUR_OVER_PI = F32(1.27323954473516)
PI4_A, PI4_B, PI4_C = F32(0.78515625), F32(2.4187564849853515625e-4), \
    F32(3.77489497744594108e-8)
TWO_PI = F32(6.2831854820251465)
UNIT = F32(5.9604644775390625e-08)  # 2**-24


@njit(**INLINE)
def log_unit(u):
    """``log(u)`` for a positive normal float32 ``u``."""
    bits = float_bits(u)
    e = np.int32((bits >> U32(23)) & U32(0xFF)) - np.int32(126)
    m = bits_float((bits & U32(0x7FFFFF)) | U32(0x3F000000))  # u = m * 2**e, m in [1/2, 1)
    low = m < SQRT_HALF
    x = (m + m - F32(1.0)) if low else (m - F32(1.0))
    fe = F32(e - np.int32(1) if low else e)
    z = x * x
    y = F32(7.0376836292e-2) * x - F32(1.1514610310e-1)
    y = y * x + F32(1.1676998740e-1)
    y = y * x - F32(1.2420140846e-1)
    y = y * x + F32(1.4249322787e-1)
    y = y * x - F32(1.6668057665e-1)
    y = y * x + F32(2.0000714765e-1)
    y = y * x - F32(2.4999993993e-1)
    y = y * x + F32(3.3333331174e-1)
    y = y * x * z
    y = y + LN2_LO * fe
    y = y - F32(0.5) * z
    return (x + y) + LN2_HI * fe


@njit(**INLINE)
def cos_turn(x):
    """``cos(x)`` for float32 ``x`` in ``[0, 2 pi)``."""
    j = np.int32(FOUR_OVER_PI * x)
    j = j + (j & np.int32(1))  # to an even multiple of pi/4
    y = F32(j)
    j = j & np.int32(7)
    sign = F32(-1.0) if (j > 3) != (j > 5 or (1 < j < 4)) else F32(1.0)
    r = ((x - y * PI4_A) - y * PI4_B) - y * PI4_C
    z = r * r
    c = ((F32(2.443315711809948e-5) * z - F32(1.388731625493765e-3)) * z
         + F32(4.166664568298827e-2)) * z * z - F32(0.5) * z + F32(1.0)
    s = ((F32(-1.9515295891e-4) * z + F32(8.3321608736e-3)) * z
         - F32(1.6666654611e-1)) * z * r + r
    return sign * (s if (j & np.int32(3)) == 2 else c)


@njit(**INLINE)
def normal(h):
    """N(0, 1) from one hash, as ``hash_normal``."""
    u1 = F32(np.int32(h >> U64(40)) + np.int32(1)) * UNIT
    u2 = F32(np.int32((h >> U64(16)) & U64(0xFFFFFF))) * UNIT
    return np.sqrt(F32(-2.0) * log_unit(u1)) * cos_turn(TWO_PI * u2)


@njit(**JIT)
def pixel_normals(tmp, n, key, p0, c):
    """``tmp[:n]``: the noise of channel ``c`` of pixels ``p0 .. p0 + n``."""
    for i in range(n):
        counter = (U64(p0 + i) << U64(8)) | U64(c)
        tmp[i] = normal(hash3(key, STREAM_PIXEL, counter))
