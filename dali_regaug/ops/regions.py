"""Scoring and choosing regions by saliency (KeepAugment, Gong et al. 2021, Sec. 3).

The importance of a region ``S`` is the sum of the saliency map over it (the paper's
Eq. 1). For a region size, every pixel is a candidate centre, the region clipped at the
border: the candidates of Cutout and CutMix, so that with every candidate allowed the
guided operator is its unguided one. :func:`scores` gives all candidates' scores at once
from a summed-area table (``kernels/region_scores.cu``, one launch per batch, or NumPy);
:func:`threshold` is the paper's adaptive threshold, the ``tau``-quantile of those scores;
:func:`pick` draws uniformly among the candidates on the chosen side of it.

Readings chosen:

* Maps are quantized per sample to integers 0..255 of their maximum before scoring, so
  region sums are exact integers: the kernel and NumPy agree bit for bit, and ties are ties.
* The paper samples until ``I(S) < tau`` (cut) or ``I(S) > tau`` (paste), with ``tau``
  the ``tau``-quantile of the candidates' scores (NumPy's default, linear, quantile). That
  loop never ends when no candidate is strictly on the right side (a flat map); then the
  candidates with the lowest (cut) or highest (paste) score are allowed instead, which
  is all of them for a flat map. The draw is one uniform index into the allowed
  candidates: no rejection loop.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import launch, records

PARAMS = records.SCORES
LEVELS = 255
MAX_PIXELS = (2**31 - 1) // LEVELS  # a region sum stays below 2**31


def quantize(maps) -> np.ndarray:
    """``(B, h, w)`` uint8: each map scaled so that its maximum is 255 (negative values and
    NaN count as 0; an all-zero map stays zero)."""
    m = np.asarray(maps, np.float32)
    m = np.where((m > 0) & (m < np.inf), m, np.float32(0))
    top = m.reshape(len(m), -1).max(1, initial=0)[:, None, None]
    return np.rint(m * (LEVELS / np.where(top > 0, top, 1))).astype(np.uint8)


def scores(maps, region_hw, *, backend=None, block=256) -> np.ndarray:
    """``(B, h, w)`` int32: the sum of each quantized map over the region of each sample's
    size centred on every pixel, clipped at the border.

    Parameters
    ----------
    maps : (B, h, w) uint8 ndarray (NumPy or CuPy)
        From :func:`quantize`; CuPy arrays take the kernel on the current stream.
    region_hw : (B, 2) int array
        Region height and width per sample.
    backend : {None, "numpy", "emulator"} or a launch backend
        ``None`` and ``"numpy"``: NumPy; otherwise one kernel launch for the batch.
    block : int
        Threads per sample (the kernel runs one block per sample).
    """
    be = launch.backend_for(maps, backend)
    maps = maps if be is not None else np.asarray(maps)
    n, h, w = maps.shape
    if h * w > MAX_PIXELS:
        raise ValueError(f"saliency maps of {h}x{w} pixels: at most {MAX_PIXELS} are supported")
    size = np.broadcast_to(np.asarray(region_hw, np.int64).reshape(-1, 2), (n, 2))
    if be is not None:
        p = np.zeros(n, PARAMS)
        p["height"], p["width"] = size[:, 0], size[:, 1]
        p["offset"] = np.arange(n) * h * w
        sat = be.xp.empty(n * h * w, np.int32)
        out = launch.launch("region_scores", maps[..., None], p, layout="HWC", backend=be,
                            args=(sat,), out_dtype=np.int32, block=block, max_grid_x=1)
        return out[..., 0]
    sat = np.zeros((n, h + 1, w + 1), np.int32)  # sums stay below 2**31 (MAX_PIXELS)
    np.cumsum(maps, 2, dtype=np.int32, out=sat[:, 1:, 1:])
    np.add.accumulate(sat, axis=1, out=sat)  # in place: much faster than cumsum on axis 1
    y0, y1 = _span(h, size[:, 0])
    x0, x1 = _span(w, size[:, 1])
    rows = _gather(sat, y1, 1) - _gather(sat, y0, 1)
    return _gather(rows, x1, 2) - _gather(rows, x0, 2)


def _span(n, size):
    """``(B, n)`` start and end of the region of each size centred on each index."""
    lo = np.arange(n)[None] - size[:, None] // 2
    return np.clip(lo, 0, n), np.clip(lo + size[:, None], 0, n)


def _gather(a, index, axis):
    """``a`` ``(B, ...)`` indexed along ``axis`` by each sample's row of ``index``
    ``(B, k)``; one shared gather when every sample has the same row (a fixed region
    size, the common case, ten times faster)."""
    if (index == index[:1]).all():
        return np.take(a, index[0], axis)
    shape = [len(index), 1, 1]
    shape[axis] = index.shape[1]
    return np.take_along_axis(a, index.reshape(shape), axis)


def threshold(s, tau) -> np.ndarray:
    """``(B,)`` the ``tau``-quantile of each sample's candidate scores ``s`` ``(B, ...)``."""
    return np.quantile(np.asarray(s).reshape(len(s), -1), tau, axis=1)


def eligible(s, tau, *, above: bool) -> np.ndarray:
    """``(B, ...)`` bool: candidates strictly below (cut) or above (``above``: paste) the
    threshold; where none is, those at the lowest (cut) or highest (paste) score."""
    shape = (-1,) + (1,) * (np.ndim(s) - 1)
    flat = np.asarray(s).reshape(len(s), -1)
    t = threshold(s, tau).reshape(shape)
    strict = s > t if above else s < t
    extreme = s == (flat.max(1) if above else flat.min(1)).reshape(shape)
    none = ~strict.reshape(len(s), -1).any(1).reshape(shape)
    return strict | (none & extreme)


def pick(allowed, u) -> np.ndarray:
    """``(B, m)`` flat indices: for each uniform ``u`` ``(B, m)``, the allowed candidate at
    that fraction of each sample's allowed ones (uniform among them); every sample must
    allow at least one.
    """
    flat = np.asarray(allowed, bool).reshape(len(allowed), -1)
    n, length = flat.shape
    count = np.cumsum(flat, 1, dtype=np.int64 if flat.shape[1] >= 2**31 else np.int32)
    rank = np.floor(np.asarray(u).reshape(n, -1) * count[:, -1:]).astype(np.int64)
    # one search over all rows: offsetting row b by b * (length + 1) keeps it sorted
    shift = np.arange(n)[:, None] * (length + 1)
    at = np.searchsorted((count + shift).ravel(), (rank + shift).ravel(), side="right")
    return at.reshape(rank.shape) - np.arange(n)[:, None] * length
