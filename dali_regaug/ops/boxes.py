"""Box geometry for the detection operators: ltrb fractions to pixel boxes and back, the
checks on a batch's boxes and labels, selection of the kept rows, clipping, and the exact
visible fraction and extent of boxes under a union of holes.

Pixel boxes are float ``(y0, x0, y1, x1)``, ``(N, K, 4)`` per batch with NaN rows for none;
the readers' boxes are ``ltrb`` fractions of the image (``readers.coco(ltrb=True,
ratio=True)``).
"""

from __future__ import annotations

import functools

import numpy as np


def check_boxes(boxes, labels, sample_ids=None) -> None:
    """Refuse boxes that are not ``(count, 4)`` rows, and samples whose boxes and labels
    differ in number (they would be paired wrongly), naming the sample."""
    if len(boxes) != len(labels):
        raise ValueError(f"boxes has {len(boxes)} samples and labels {len(labels)}")
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        b, lab = np.asarray(b), np.asarray(lab)
        who = f"sample {i} of the batch" + ("" if sample_ids is None else
                                            f" (sample_id {np.ravel(sample_ids[i])[0]})")
        if b.size and (b.ndim != 2 or b.shape[1] != 4):
            raise ValueError(f"boxes of {who} have shape {b.shape}: expected (count, 4) "
                             f"ltrb rows")
        if lab.ndim == 0 or len(lab) != len(b.reshape(-1, 4)):
            raise ValueError(f"{who} has {len(b.reshape(-1, 4))} boxes and "
                             f"{lab.size if lab.ndim == 0 else len(lab)} labels: each box "
                             f"needs one label row (boxes and labels from the same reader)")


def pixel_boxes(boxes, hw):
    """``(N, K, 4)`` pixel ``(y0, x0, y1, x1)`` from per-sample ltrb fractions (checked by
    :func:`check_boxes`), clipped to the image, NaN rows for padding and for dropped boxes
    (a NaN coordinate, or no area once clipped); and how many were dropped."""
    n, k = len(boxes), max([len(np.reshape(b, (-1, 4))) for b in boxes], default=0)
    px = np.full((n, k, 4), np.nan)
    for i, b in enumerate(boxes):  # packing only: one slice per sample
        b = np.asarray(b, np.float64).reshape(-1, 4)
        px[i, :len(b)] = b[:, [1, 0, 3, 2]]
    px = np.clip(px, 0.0, 1.0) * np.tile(hw[:, None, :], 2)
    bad = np.isnan(px).any(-1) | (px[..., 2] <= px[..., 0]) | (px[..., 3] <= px[..., 1])
    present = np.arange(k)[None, :] < np.array([np.size(b) // 4 for b in boxes])[:, None]
    px[bad] = np.nan
    return px, int((bad & present).sum())


def ltrb(px, hw) -> np.ndarray:
    """float32 ltrb fractions from pixel ``(y0, x0, y1, x1)`` boxes."""
    return (px / np.tile(hw[:, None, :], 2))[..., [1, 0, 3, 2]].astype(np.float32)


def select(labels, keep) -> list:
    """Per sample, the labels (rows) whose box is kept."""
    return [np.asarray(lab)[k[:len(lab)]] for lab, k in zip(labels, keep)]


def indices(labels, keep) -> list:
    """Per sample, the int32 indices of the kept boxes."""
    return [np.flatnonzero(k[:len(lab)]).astype(np.int32) for lab, k in zip(labels, keep)]


def visibility(holes, counts, boxes, hw):
    """Visible fraction and visible extent of each box under the union of the holes.

    Exact in pixel units: the holes' edges (or, when there are more of them than pixels,
    the pixel edges) cut each image into a grid of cells that are either covered or not.
    Summed-area tables over the cells give each box's covered area (bilinear within the
    cells its fractional edges cut, which is exact as coverage is constant there) and,
    counting the uncovered cells exactly in integers, whether anything of it is visible and
    its first and last visible row and column (a binary search). Per image the cost is
    ``O(G**2 + K log G)`` for ``G = min(2 * holes + 2, side + 1)`` grid lines: at most
    ``O(boxes x holes)`` when each box has its own hole, whatever the image size.

    Parameters
    ----------
    holes : (N, R, 4) int ndarray
        ``(y0, x0, y1, x1)``, the first ``counts`` in use.
    counts : (N,) int ndarray
    boxes : (N, K, 4) float ndarray
        Pixel ``(y0, x0, y1, x1)``.
    hw : (N, 2) array

    Returns
    -------
    visible : (N, K) float ndarray
        Fraction of each box's area not covered (0 for empty boxes).
    extent : (N, K, 4) float ndarray
        Bounding box of the visible part (the box itself where nothing is visible).
    """
    n = len(hw)
    holes = holes[:, :max(int(counts.max(initial=0)), 1)].astype(np.int64)
    holes = np.where((np.arange(holes.shape[1]) < counts[:, None])[..., None], holes, 0)
    visible = np.zeros(boxes.shape[:2])
    extent = np.array(boxes, np.float64)
    if not n or not boxes.shape[1]:
        return visible, extent
    hw = np.asarray(hw, np.int64)
    grid = [_grid_lines(holes[..., a::2], hw[:, a]) for a in (0, 1)]
    cells = max(grid[0].shape[1] * grid[1].shape[1], 1)
    step = max(1, _CELLS // cells)  # images per chunk: bounded memory
    for s in range(0, n, step):
        c = slice(s, s + step)
        visible[c], extent[c] = _visible(holes[c], boxes[c].astype(np.float64),
                                         grid[0][c], grid[1][c])
    return visible, extent


_CELLS = 1 << 22  # grid cells per chunk of images


def _grid_lines(lo_hi, side):
    """``(N, G)`` sorted grid lines of one axis: 0, the side and the holes' edges, or every
    pixel edge when that is fewer (repeated lines make empty cells, which are harmless)."""
    edges = np.concatenate([np.zeros((len(side), 1), np.int64), side[:, None],
                            lo_hi.reshape(len(side), -1)], 1)
    if edges.shape[1] > side.max(initial=0) + 1:
        return np.minimum(np.arange(side.max() + 1)[None, :], side[:, None])
    return np.sort(edges, 1)


def _find(lines, values, side="left"):
    """Per image, ``searchsorted`` of ``values`` (``(N, K)``) in its ``lines``."""
    n, g = lines.shape
    v = values.reshape(n, -1)
    span = float(lines.max(initial=0)) + 2 + np.abs(v).max(initial=0)
    row = np.arange(n)[:, None]
    at = np.searchsorted((lines + row * span).ravel(), (v + row * span).ravel(), side)
    return (at.reshape(v.shape) - row * g).reshape(values.shape)


def _visible(holes, boxes, ys, xs):
    """:func:`visibility` for one chunk of images, with their grid lines ``ys``, ``xs``."""
    n, gy, gx = len(ys), ys.shape[1], xs.shape[1]
    iy, ix = _find(ys, holes[..., 0::2]), _find(xs, holes[..., 1::2])
    diff = np.zeros((n, gy, gx), np.int32)
    g = np.broadcast_to(np.arange(n)[:, None], iy.shape[:2])
    for (a, b), sign in (((0, 0), 1), ((1, 0), -1), ((0, 1), -1), ((1, 1), 1)):
        np.add.at(diff, (g, iy[..., a], ix[..., b]), sign)
    np.cumsum(diff, 1, out=diff)
    np.cumsum(diff, 2, out=diff)
    covered = diff[:, :-1, :-1] > 0  # (N, gy - 1, gx - 1) cells
    dy, dx = np.diff(ys, axis=1), np.diff(xs, axis=1)  # whole pixels: exact integer areas
    area_sat = _sat(covered * (dy[:, :, None] * dx[:, None, :]).astype(
        np.int32 if ys[:, -1].max(initial=0) * xs[:, -1].max(initial=0) < 2**31 else np.int64))
    open_sat = _sat(~covered & (dy > 0)[:, :, None] & (dx > 0)[:, None, :])

    y0, x0, y1, x1 = (boxes[..., k] for k in range(4))
    # the cells a box overlaps with positive length: [ra, rb) x [ca, cb)
    ra, rb = np.clip(_find(ys, y0, "right") - 1, 0, None), _find(ys, y1)
    ca, cb = np.clip(_find(xs, x0, "right") - 1, 0, None), _find(xs, x1)
    rb, cb = np.maximum(rb, ra), np.maximum(cb, ca)
    # the cells holding each corner, for the bilinear lookups
    cy = [np.minimum(ra, gy - 2), np.clip(_find(ys, y1, "right") - 1, 0, gy - 2)]
    cx = [np.minimum(ca, gx - 2), np.clip(_find(xs, x1, "right") - 1, 0, gx - 2)]

    def area_to(i, j, y, x):  # covered area of [0, y) x [0, x): bilinear within the cell
        fy = _frac(ys, i, y, dy)
        fx = _frac(xs, j, x, dx)
        at = lambda a, b: _at(area_sat, a * gx + b)  # noqa: E731
        return (at(i, j) * (1 - fy) * (1 - fx) + at(i + 1, j) * fy * (1 - fx) +
                at(i, j + 1) * (1 - fy) * fx + at(i + 1, j + 1) * fy * fx)

    cov = (area_to(cy[1], cx[1], y1, x1) - area_to(cy[0], cx[1], y0, x1) -
           area_to(cy[1], cx[0], y1, x0) + area_to(cy[0], cx[0], y0, x0))
    area = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    open_cells = functools.partial(_rect, open_sat)  # uncovered cells of a cell rectangle
    seen = (area > 0) & (open_cells(ra, rb, ca, cb) > 0)
    # exact where it matters: nothing covered in the box's cells is fully visible (1.0,
    # which min_visibility=1 keeps), nothing open is invisible (0.0)
    untouched = _rect(area_sat, ra, rb, ca, cb) == 0
    visible = np.where(seen, np.where(untouched, 1.0, np.clip(
        1 - cov / np.where(area > 0, area, 1), 0, 1)), 0.0)
    extent = boxes.copy()
    for axis, (lines, a, b, other) in enumerate(((ys, ra, rb, (ca, cb)),
                                                 (xs, ca, cb, (ra, rb)))):
        def count(lo, hi):  # uncovered cells within lines [lo, hi) of this axis
            lo, hi = (np.minimum(v, lines.shape[1] - 1) for v in (lo, hi))  # (idle probes)
            return open_cells(lo, hi, *other) if axis == 0 else open_cells(*other, lo, hi)

        first = _search(a, b, lambda m: count(a, m + 1) > 0)
        last = _search(a, b, lambda m: count(m, b) == 0) - 1
        lo = _at(lines, np.clip(first, 0, lines.shape[1] - 1))
        hi = _at(lines, np.clip(last + 1, 0, lines.shape[1] - 1))
        extent[..., axis] = np.where(seen, np.maximum(boxes[..., axis], lo), boxes[..., axis])
        extent[..., axis + 2] = np.where(seen, np.minimum(boxes[..., axis + 2], hi),
                                         boxes[..., axis + 2])
    return visible, extent


def _sat(cells):
    """Integer summed-area table with a zero first row and column."""
    n, h, w = cells.shape
    sat = np.zeros((n, h + 1, w + 1), np.int64 if cells.dtype == np.int64 else np.int32)
    np.cumsum(cells, 1, out=sat[:, 1:, 1:])
    np.cumsum(sat[:, 1:, 1:], 2, out=sat[:, 1:, 1:])
    return sat


def _rect(sat, r0, r1, c0, c1):
    """Per image, the sum of the cells in rows ``[r0, r1)`` x columns ``[c0, c1)`` of the
    summed-area table ``sat``."""
    gx = sat.shape[2]
    at = lambda a, b: _at(sat, a * gx + b)  # noqa: E731
    return at(r1, c1) - at(r0, c1) - at(r1, c0) + at(r0, c0)


def _at(table, flat):
    """``table[n].flat[flat[n]]`` for every image ``n`` (``flat``: ``(N, K)``)."""
    n = len(table)
    rows = np.arange(n)[:, None] * (table.size // max(n, 1))
    return table.reshape(-1)[rows + flat]


def _frac(lines, i, v, size):
    """Where ``v`` lies in cell ``i``, from 0 to 1 (0 in empty cells)."""
    d = _at(size, i)
    return np.where(d > 0, (v - _at(lines, i)) / np.where(d > 0, d, 1), 0)


def _search(lo, hi, ok):
    """Per element, the smallest ``m`` in ``[lo, hi)`` with ``ok(m)`` (``ok`` monotone),
    ``hi`` where none is."""
    lo, hi = lo.copy(), hi.copy()
    while (lo < hi).any():
        mid = (lo + hi) // 2
        good = ok(np.minimum(mid, np.maximum(hi - 1, lo)))
        active = lo < hi
        hi = np.where(active & good, mid, hi)
        lo = np.where(active & ~good, mid + 1, lo)
    return lo


def area(b) -> np.ndarray:
    """Area of pixel boxes ``(..., 4)`` (0 for empty ones)."""
    return np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), -1)


def clip(b, region) -> np.ndarray:
    """Pixel boxes ``(..., 4)`` clipped to ``region`` (broadcastable ``(..., 4)``)."""
    return np.concatenate([np.maximum(b[..., :2], region[..., :2]),
                           np.minimum(b[..., 2:], region[..., 2:])], -1)
