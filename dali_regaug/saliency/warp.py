"""Resampling between a training view (a crop window of the original image, maybe mirrored)
and the bank's ``S x S`` grid over the whole original image.

Both directions are area averages: a view pixel and a bank cell are rectangles in the
original image's normalized coordinates, and each value moves in proportion to the area
the two share. The shared areas factor into a row matrix and a column matrix (``overlap``),
so a batch moves with two batched matrix products, in NumPy, CuPy or torch alike (``xp``).
"""

from __future__ import annotations

import numpy as np

from dali_regaug.ops import regions


def overlap(lo, hi, n_view, n_bank, flip=None, fractions=None, dtype=np.float64):
    """``(B, n_bank, n_view)`` lengths shared by bank cell ``i`` (``[i, i + 1) / n_bank``)
    and view cell ``r`` (``lo + [f_r, f_r+1) (hi - lo)``) along one axis.

    ``fractions`` (``(n_view + 1,)``, rising from 0 to 1) are the view cells' edges as
    fractions of the view; equal cells by default. ``flip`` (``(B,)`` bool) mirrors the
    view along this axis (view cell ``r`` then starts from ``hi``). The edges are placed in
    float64; the lengths come in ``dtype``.
    """
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    f = np.arange(n_view + 1) / n_view if fractions is None else np.asarray(fractions)
    bank = np.arange(n_bank + 1) / n_bank
    span = (hi - lo)[:, None]
    start, end = lo[:, None] + span * f[None, :-1], lo[:, None] + span * f[None, 1:]
    if flip is not None:
        flip = np.asarray(flip, bool)[:, None]
        start, end = np.where(flip, hi[:, None] - span * f[None, 1:], start), \
            np.where(flip, hi[:, None] - span * f[None, :-1], end)
    bank, start, end = bank.astype(dtype), start.astype(dtype), end.astype(dtype)
    return regions.interval_overlap(start[:, None], end[:, None], bank[None, :-1, None],
                                    bank[None, 1:, None])


def matrices(crops, flips, view_hw, n_bank, edges=None, dtype=np.float64):
    """Row and column overlap matrices of each view: ``crops`` ``(B, 4)`` are
    ``(y0, x0, y1, x1)`` fractions of the original image (the ImageNet pipeline's ``crop``
    output), ``flips`` ``(B,)`` the pipeline's horizontal flip flags. ``edges``: the view
    cells' pixel edges along each side (one cell per pixel by default); ``dtype`` of the
    matrices."""
    crops = np.asarray(crops, np.float64).reshape(-1, 4)
    h, w = view_hw
    ey, ex = (None, None) if edges is None else edges
    return (overlap(crops[:, 0], crops[:, 2], h if ey is None else len(ey) - 1, n_bank,
                    fractions=None if ey is None else ey / h, dtype=dtype),
            overlap(crops[:, 1], crops[:, 3], w if ex is None else len(ex) - 1, n_bank,
                    flip=flips, fractions=None if ex is None else ex / w, dtype=dtype))


def to_bank(xp, rows, cols, maps, visible):
    """Area averages of ``maps`` ``(B, h, w)`` over the visible pixels falling in each bank
    cell, and the covered fraction of each cell (0 where no visible pixel falls)."""
    total = rows @ (maps * visible) @ cols.swapaxes(1, 2)
    area = rows @ visible @ cols.swapaxes(1, 2)
    covered = area * rows.shape[1] * cols.shape[1]
    return total / xp.maximum(area, 1e-30), covered  # total is 0 where area is


def to_view(xp, rows, cols, bank_maps):
    """``(B, h, w)`` view maps: each view pixel is the area average of the bank cells it
    covers. A pixel's area factors into its row's length times its column's, so the product
    is divided by those two totals, not by each pixel's area."""
    out = rows.swapaxes(1, 2) @ bank_maps @ cols
    out /= xp.maximum(rows.sum(1), 1e-30)[:, :, None]
    out /= xp.maximum(cols.sum(1), 1e-30)[:, None, :]
    return out
