"""Scoring and choosing regions by saliency (KeepAugment, Gong et al. 2021, Sec. 3).

The importance of a region ``S`` is the sum of the saliency map over it (the paper's
Eq. 1), the region clipped at the border as Cutout and CutMix clip theirs.
:func:`threshold` is the paper's adaptive threshold, the ``tau``-quantile of all
candidates' scores; :func:`pick` draws uniformly among the candidates on the chosen side of
it.

Readings chosen:

* **Candidates at the map's resolution.** The maps hold far less than a pixel's detail (a
  16x16 bank over the whole image), so the view is divided into a grid of at most
  ``GRID x GRID`` cells (:func:`edges`), the map is averaged over each cell
  (:func:`to_grid`) and quantized to integers 0..255 of its maximum (:func:`quantize`).
  The candidates are the regions centred on each cell's centre pixel; a score is the sum
  over the view's map at that resolution (each pixel holding its cell's value): exact
  integers, the same on every machine, ties are ties, and the region cut or pasted is
  exactly the one scored. A candidate stands for its cell's pixels: it counts once per
  pixel in the quantile (the quantile of every pixel's score, each pixel taking its cell's
  candidate) and is drawn in proportion to them, so a flat map places regions as the
  unguided operator does, at the grid's resolution. A sampler costs per cell, not per
  pixel.
* The paper samples until ``I(S) < tau`` (cut) or ``I(S) > tau`` (paste), with ``tau``
  the ``tau``-quantile of the candidates' scores (NumPy's default, linear, quantile). That
  loop never ends when no candidate is strictly on the right side (a flat map); then the
  candidates with the lowest (cut) or highest (paste) score are allowed instead, which
  is all of them for a flat map. The draw is one uniform index into the allowed
  candidates' pixels: no rejection loop.
"""

from __future__ import annotations

import numpy as np

GRID = 32  # cells per side of the scoring grid, at most
LEVELS = 255


def edges(n: int) -> np.ndarray:
    """``(cells + 1,)`` pixel edges of the grid's cells along a side of ``n`` pixels: the
    most cells up to ``GRID`` that split ``n`` evenly, if there are at least ``GRID / 2``
    (28 of 4 pixels for 112, 32 of 7 for 224: all cells weigh the same, and the quantile
    is a partition), else ``min(n, GRID)`` cells of ``n // cells`` or one more pixels."""
    cells = next((d for d in range(min(n, GRID), GRID // 2 - 1, -1) if n % d == 0),
                 min(n, GRID))
    return np.arange(cells + 1) * n // cells


def to_grid(maps, h: int, w: int) -> np.ndarray:
    """``(B, gh, gw)`` area averages over the grid's cells of ``maps`` ``(B, mh, mw)``,
    each map covering the ``h x w`` view at its own resolution (already the grid's: as
    is). Negative, NaN and infinite values count as 0, as in :func:`quantize`: one bad
    value must not spread over the whole map."""
    ey, ex = edges(h), edges(w)
    if np.shape(maps)[1:] == (len(ey) - 1, len(ex) - 1):
        return maps
    maps = _clean(np.array(maps, np.float64))
    rows, cols = (_share(e / n, m) for e, n, m in ((ey, h, maps.shape[1]),
                                                   (ex, w, maps.shape[2])))
    rows /= rows.sum(1, keepdims=True)
    cols /= cols.sum(1, keepdims=True)
    return rows @ maps @ cols.T


def _share(fractions, m):
    """``(cells, m)`` length that cell ``i`` (between ``fractions[i]`` and the next) shares
    with each of ``m`` equal map cells."""
    grid = np.arange(m + 1) / m
    return interval_overlap(fractions[:-1, None], fractions[1:, None], grid[None, :-1],
                            grid[None, 1:])


def interval_overlap(lo, hi, start, end):
    """Lengths shared by the intervals ``[lo, hi)`` and ``[start, end)``, broadcast (0 where
    they do not meet): the one formula behind the scoring grid, the region coverage and the
    bank's warp."""
    out = np.minimum(hi, end)
    out -= np.maximum(lo, start)
    return np.maximum(out, 0, out=out)


def quantize(maps) -> np.ndarray:
    """``(B, h, w)`` uint8: each map scaled so that its maximum is 255 (negative values and
    NaN count as 0; an all-zero map stays zero)."""
    m = _clean(np.array(maps, np.float32))
    top = m.reshape(len(m), -1).max(1, initial=0)[:, None, None]
    m *= LEVELS / np.where(top > 0, top, 1)
    return np.rint(m, out=m).astype(np.uint8)


def _clean(m: np.ndarray) -> np.ndarray:
    """``m`` (a copy) with every value that is not a positive finite number set to 0."""
    m[~((m > 0) & (m < np.inf))] = 0
    return m


def coverage(e: np.ndarray, size, dtype=np.int64) -> np.ndarray:
    """``(B, cells, cells)`` pixels that the region of each sample's ``size`` centred on
    cell ``k``'s centre pixel shares with cell ``i`` (``[k, i]``), along one side with
    cell edges ``e``; in ``dtype`` (a float type holds these integers exactly)."""
    size = np.asarray(size, np.int64).reshape(-1, 1)
    n = int(e[-1])
    centre = (e[:-1] + e[1:] - 1) // 2
    lo = np.clip(centre[None] - size // 2, 0, n).astype(dtype)
    hi = np.clip(centre[None] - size // 2 + size, 0, n).astype(dtype)
    e = e.astype(dtype)
    return interval_overlap(lo[..., None], hi[..., None], e[None, None, :-1], e[None, None, 1:])


def scores(q, region_hw, h: int, w: int) -> np.ndarray:
    """``(B, gh, gw)`` floats holding exact integers: the score of each cell's candidates,
    the sum of the quantized grid maps ``q`` ``(B, gh, gw)`` over the region of each
    sample's size ``region_hw`` ``(B, 2)`` centred on the cell's centre pixel."""
    size = np.broadcast_to(np.asarray(region_hw, np.int64).reshape(-1, 2), (len(q), 2))
    if (size == size[:1]).all():
        size = size[:1]  # one region size (the common case): one coverage matrix
    # Sums of integers, exact in any order (BLAS included) while they stay below 2**24 in
    # float32 (views up to 256x256: half the memory) or 2**53 in float64.
    dtype = np.float32 if LEVELS * h * w < 2**24 else np.float64
    rows, cols = coverage(edges(h), size[:, 0], dtype), coverage(edges(w), size[:, 1], dtype)
    return rows @ np.asarray(q, dtype) @ cols.swapaxes(1, 2)


def areas(h: int, w: int) -> np.ndarray:
    """``(gh, gw)`` pixels per cell: the weight of a cell's score among the candidates."""
    return np.outer(np.diff(edges(h)), np.diff(edges(w)))


def threshold(s, area, tau) -> np.ndarray:
    """``(B,)`` the ``tau``-quantile (NumPy's linear method) of each sample's pixel
    candidates, cell scores ``s`` ``(B, ...)`` (integers) each counted ``area`` times."""
    s = np.asarray(s).reshape(len(s), -1)
    area = np.asarray(area).reshape(-1)
    n = int(area.sum())
    pos = (n - 1) * np.float64(tau)
    below = np.floor(pos)
    gamma = pos - below
    k = (int(below), min(int(below) + 1, n - 1))  # the two pixel candidates around pos
    counts, kind = np.unique(area, return_inverse=True)
    if len(counts) == 1:  # equal cells: the k-th pixel lies in the (k // count)-th cell
        ia, ib = (i // int(counts[0]) for i in k)
        exact = s.astype(np.int32 if s.size and s.max() < 2**31 else np.int64)  # faster
        part = np.partition(exact, ia, axis=1)
        a = part[:, ia].astype(np.float64)
        b = a if ib == ia else part[:, ia + 1:].min(1).astype(np.float64)
    else:
        # At most four pixel counts (two row and two column heights): sorting
        # score * 4 + kind orders the scores and keeps each one's count with it, in one
        # sort of plain numbers (exact: the scores stay far below 2**51).
        keys = np.sort(s.astype(np.float64) * 4 + kind.reshape(-1), axis=1)
        ends = np.cumsum(counts[(keys % 4).astype(np.int64)], axis=1)
        rows = np.arange(len(s))
        a, b = (np.floor(keys[rows, (ends <= i).sum(1)] / 4) for i in k)
    # NumPy's lerp, in its order of operations, so that the value is np.quantile's
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def eligible(s, area, tau, *, above: bool) -> np.ndarray:
    """``(B, ...)`` bool: cells whose candidates are strictly below (cut) or above
    (``above``: paste) the threshold; where none is, those at the lowest (cut) or highest
    (paste) score."""
    s = np.asarray(s)
    shape = (-1,) + (1,) * (s.ndim - 1)
    flat = s.reshape(len(s), -1)
    t = threshold(s, area, tau).reshape(shape)
    strict = s > t if above else s < t
    extreme = s == (flat.max(1) if above else flat.min(1)).reshape(shape)
    none = ~strict.reshape(len(s), -1).any(1).reshape(shape)
    return strict | (none & extreme)


def pick(allowed, h: int, w: int, u) -> tuple[np.ndarray, np.ndarray]:
    """``(cy, cx)``, each ``(B, m)``: for each uniform ``u`` ``(B, m)``, the centre pixel of
    the allowed cell holding that fraction of each sample's allowed pixels (a cell in
    proportion to its pixels); ``allowed`` ``(B, gh, gw)`` marks cells and every sample
    must allow at least one."""
    ey, ex = edges(h), edges(w)
    flat = np.asarray(allowed, bool).reshape(len(allowed), -1)
    n, length = flat.shape
    area = np.outer(np.diff(ey), np.diff(ex)).reshape(-1)
    count = np.cumsum(np.where(flat, area.astype(np.int32), np.int32(0)), 1,
                      dtype=np.int32 if h * w < 2**31 else np.int64)
    rank = np.floor(np.asarray(u).reshape(n, -1) * count[:, -1:]).astype(np.int64)
    # one search over all rows: offsetting row b past the previous rows keeps it sorted
    shift = np.arange(n)[:, None] * (int(area.sum()) + 1)
    cell = np.searchsorted((count + shift).ravel(), (rank + shift).ravel(), side="right")
    i, j = np.divmod(cell.reshape(rank.shape) - np.arange(n)[:, None] * length, len(ex) - 1)
    return (ey[:-1] + ey[1:] - 1)[i] // 2, (ex[:-1] + ex[1:] - 1)[j] // 2
