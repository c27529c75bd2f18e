"""Shared fixtures: the emulator backend, image batches, and comparisons that dump both
sides on failure (as DALI's operator tests do)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dali_regaug.launch import EmulatorBackend
from dali_regaug.ops import catalog
from dali_regaug.ops.placement import View

DUMP_DIR = Path(os.environ.get("DALI_REGAUG_DUMP", "out/test-failures"))


@pytest.fixture(scope="session")
def emulator():
    return EmulatorBackend()


def make_images(rs, hws, channels=3, dtype=np.float32, layout="HWC"):
    """Random images of the given (H, W) sizes; float data is N(0, 1), uint8 is 0..255."""
    out = []
    for h, w in hws:
        shape = (h, w, channels) if layout == "HWC" else (channels, h, w)
        x = rs.integers(0, 256, shape) if np.dtype(dtype) == np.uint8 else rs.normal(size=shape)
        out.append(x.astype(dtype))
    return out


# Box-Muller noise (the float fills "random" and "region") is computed with the C library's
# logf and cosf in the emulator, CUDA's on a GPU, float32 polynomials in the CPU kernels and
# NumPy's own in the NumPy reference: the kernels agree within this many units in the last
# place of the stored dtype (README, "CPU kernels"). Everything else is integer or exact and
# must agree bit for bit.
NOISE_ULPS = 8


def ulps(a, b) -> np.ndarray:
    """Distance of two float arrays of one dtype in units in the last place (NaN to NaN: 0)."""
    a, b = np.asarray(a), np.asarray(b)
    bits = {2: np.int16, 4: np.int32}[a.itemsize]
    ia, ib = (np.asarray(x).view(bits).astype(np.int64) for x in (a, b))
    top = np.int64(1) << (8 * a.itemsize - 1)
    ia, ib = (np.where(i < 0, -(i & (top - 1)), i) for i in (ia, ib))  # ordered integers
    return np.where(np.isnan(a) & np.isnan(b), 0, np.abs(ia - ib))


def assert_match(name, expected, actual, params, *, exact=True, rtol=1e-5, atol=1e-5,
                 max_ulps=None):
    """Compare two batches (exactly, within ``max_ulps``, or to a tolerance); on failure
    write both and the parameters to DUMP_DIR."""
    bad = []
    for i, (e, a) in enumerate(zip(expected, actual)):
        e, a = np.asarray(e), np.asarray(a)
        if exact or e.shape != a.shape:
            ok = e.shape == a.shape and np.array_equal(e, a)
        elif max_ulps is not None:
            ok = e.dtype == a.dtype and (ulps(e, a) <= max_ulps).all()
        else:
            ok = np.allclose(e.astype(np.float64), a.astype(np.float64), rtol=rtol, atol=atol)
        if not ok:
            bad.append(i)
    if bad or len(expected) != len(actual):
        DUMP_DIR.mkdir(parents=True, exist_ok=True)
        path = DUMP_DIR / f"{name}.npz"
        np.savez(path, params=params, **{f"expected_{i}": np.asarray(x) for i, x in enumerate(expected)},
                 **{f"actual_{i}": np.asarray(x) for i, x in enumerate(actual)})
        pytest.fail(f"{name}: samples {bad} differ ({'exact' if exact else 'tolerance'}); "
                    f"both sides and the parameters are in {path}")


def operator(name, **kwargs):
    """The operator object of declaration ``name`` (``seed``, ``layout``, ``backend`` and its
    arguments as keywords)."""
    return catalog.get(name).build(**kwargs)


def view(maps, present=None):
    """A placement view of ``maps`` (all present by default)."""
    return View(list(maps), np.ones(len(maps), bool) if present is None else present)


def brute_pixel_scores(maps, size, h, w):
    """Every pixel's candidate score by the definition, by slicing (no coverage matrices):
    the map averaged over each grid cell (a plain mean of its pixels for a pixel-resolution
    map) and quantized, each pixel holding its cell's value; a pixel is scored by the
    region of ``size`` centred on its cell's centre pixel, clipped at the border.
    ``maps`` ``(B, h, w)`` at pixel resolution; returns ``(B, h, w)`` int64."""
    from dali_regaug.ops import regions

    ey, ex = regions.edges(h), regions.edges(w)
    grid = np.array([[[m[ey[i]:ey[i + 1], ex[j]:ex[j + 1]].mean() for j in range(len(ex) - 1)]
                      for i in range(len(ey) - 1)] for m in np.asarray(maps, np.float64)])
    q = regions.quantize(grid).astype(np.int64)
    rh, rw = size
    out = []
    for g in q:
        pixels = np.repeat(np.repeat(g, np.diff(ey), 0), np.diff(ex), 1)
        cell = np.zeros(g.shape, np.int64)
        for i in range(len(ey) - 1):
            for j in range(len(ex) - 1):
                y, x = (ey[i] + ey[i + 1] - 1) // 2, (ex[j] + ex[j + 1] - 1) // 2
                y0, x0 = max(y - rh // 2, 0), max(x - rw // 2, 0)
                cell[i, j] = pixels[y0:max(y - rh // 2 + rh, 0), x0:max(x - rw // 2 + rw, 0)].sum()
        out.append(np.repeat(np.repeat(cell, np.diff(ey), 0), np.diff(ex), 1))
    return np.stack(out)


def brute_allowed(s, tau, above):
    """The paper's rule on all pixel candidates ``s`` ``(h, w)``: strictly past the
    tau-quantile, or at the extreme score when none is."""
    t = np.quantile(s, tau)
    strict = s > t if above else s < t
    return strict if strict.any() else s == (s.max() if above else s.min())
