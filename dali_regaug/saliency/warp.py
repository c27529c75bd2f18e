"""Resampling between a training view (a crop window of the original image, maybe mirrored)
and the bank's ``S x S`` grid over the whole original image.

Both directions are area averages: a view pixel and a bank cell are rectangles in the
original image's normalized coordinates, and each value moves in proportion to the area
the two share. The shared areas factor into a row matrix and a column matrix (``overlap``),
so a batch moves with two batched matrix products, in NumPy, CuPy or torch alike (``xp``).
"""

from __future__ import annotations

import numpy as np


def overlap(lo, hi, n_view, n_bank, flip=None):
    """``(B, n_bank, n_view)`` lengths shared by bank cell ``i`` (``[i, i + 1) / n_bank``)
    and view cell ``r`` (``lo + [r, r + 1) (hi - lo) / n_view``) along one axis.

    ``flip`` (``(B,)`` bool) mirrors the view along this axis.
    """
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    bank = np.arange(n_bank + 1) / n_bank
    view = lo[:, None] + (hi - lo)[:, None] * (np.arange(n_view + 1) / n_view)
    out = np.clip(np.minimum(bank[None, 1:, None], view[:, None, 1:]) -
                  np.maximum(bank[None, :-1, None], view[:, None, :-1]), 0, None)
    if flip is not None:
        out = np.where(np.asarray(flip, bool)[:, None, None], out[..., ::-1], out)
    return out


def matrices(crops, flips, view_hw, n_bank):
    """Row and column overlap matrices of each view: ``crops`` ``(B, 4)`` are
    ``(y0, x0, y1, x1)`` fractions of the original image (the ImageNet pipeline's ``crop``
    output), ``flips`` ``(B,)`` the pipeline's horizontal flip flags."""
    crops = np.asarray(crops, np.float64).reshape(-1, 4)
    h, w = view_hw
    return (overlap(crops[:, 0], crops[:, 2], h, n_bank),
            overlap(crops[:, 1], crops[:, 3], w, n_bank, flip=flips))


def to_bank(xp, rows, cols, maps, visible):
    """Area averages of ``maps`` ``(B, h, w)`` over the visible pixels falling in each bank
    cell, and the covered fraction of each cell (0 where no visible pixel falls)."""
    total = rows @ (maps * visible) @ cols.swapaxes(1, 2)
    area = rows @ visible @ cols.swapaxes(1, 2)
    covered = area * rows.shape[1] * cols.shape[1]
    return total / xp.maximum(area, 1e-30), covered  # total is 0 where area is


def to_view(xp, rows, cols, bank_maps):
    """``(B, h, w)`` view maps: each view pixel is the area average of the bank cells it
    covers. A pixel's area factors into its row's length times its column's, so the
    matrices are normalized instead of each pixel."""
    rows = rows / xp.maximum(rows.sum(1, keepdims=True), 1e-30)
    cols = cols / xp.maximum(cols.sum(1, keepdims=True), 1e-30)
    return rows.swapaxes(1, 2) @ bank_maps @ cols
