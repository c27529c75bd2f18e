"""Rectangle sets: the parameter record of erasing (Random Erasing, Cutout) and of the
two-source composite (CutMix, MixUp, KeepAugment's paste).

Boxes are integer, half-open ``(y0, x0, y1, x1)`` in pixels. A record holds ``count`` boxes
in use; later boxes paint over earlier ones, and a box of zero area covers nothing.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import records


def params_dtype(max_boxes: int) -> np.dtype:
    """Record with room for ``max_boxes`` boxes (:func:`dali_regaug.records.rect_set`)."""
    return records.rect_set(max_boxes)


def last_box(p: np.ndarray, h: int, w: int) -> np.ndarray:
    """``(G, H, W)`` int16: index of the last box covering each pixel, -1 where none does."""
    hit = np.full((len(p), h, w), -1, np.int16)
    for j, box in _slots(p, h, w):
        np.copyto(hit, np.int16(j), where=box)
    return hit


def covered(p: np.ndarray, h: int, w: int) -> np.ndarray:
    """``(G, H, W)`` bool: whether any box in use covers each pixel (``last_box >= 0``,
    without the index)."""
    hit = np.zeros((len(p), h, w), bool)
    for _, box in _slots(p, h, w):
        hit |= box
    return hit


def drop_mask(p: np.ndarray, h: int, w: int, regions: bool):
    """An erasing ``mask``: ``(covered, last box index)`` when the fill needs to know
    which box covers a pixel (``regions``), else ``(covered, None)`` (cheaper)."""
    if not regions:
        return covered(p, h, w), None
    hit = last_box(p, h, w)
    return hit >= 0, hit


def dropped(p: np.ndarray, h: int, w: int, regions: bool):
    """The pixels the boxes of records ``p`` cover on ``(G, H, W)`` images, as flat indices
    ``(sample * H + y) * W + x``, and with ``regions`` the index of the last box covering
    each (else None): an erasing ``mask`` whose cost follows the boxes' area, not the image
    size. A pixel under several boxes is listed once with ``regions``; without, it may be
    listed once per box (its fill does not depend on the box).
    """
    m = min(int(p["count"].max(initial=0)), p["boxes"].shape[1])
    j, g = np.nonzero((np.arange(m)[:, None] < p["count"][None, :]))  # slot-major: later wins
    b = p["boxes"][g, j].astype(np.int64)
    b[:, 0::2], b[:, 1::2] = np.clip(b[:, 0::2], 0, h), np.clip(b[:, 1::2], 0, w)  # as masks
    bh, bw = np.clip(b[:, 2] - b[:, 0], 0, None), np.clip(b[:, 3] - b[:, 1], 0, None)
    k = np.repeat(np.arange(len(b)), bh)  # one entry per box row, then one per pixel
    row = np.arange(len(k)) - np.repeat(np.cumsum(bh) - bh, bh)
    start = (g[k] * h + b[k, 0] + row) * w + b[k, 1]
    n = bw[k]
    flat = np.arange(n.sum()) + np.repeat(start - (np.cumsum(n) - n), n)
    codes = np.repeat(j[k], n) if regions else None
    if m > 1 and regions:  # boxes may overlap: one entry per pixel, the last box's
        last = len(flat) - 1 - np.unique(flat[::-1], return_index=True)[1]
        flat = flat[last]
        codes = None if codes is None else codes[last]
    return flat, codes


def _slots(p, h, w):
    """``(j, (G, H, W) bool)`` for each box slot in use by some record: its pixels."""
    y, x = np.arange(h), np.arange(w)
    for j in range(min(int(p["count"].max(initial=0)), p["boxes"].shape[1])):
        b = p["boxes"][:, j]
        used = (p["count"] > j)[:, None]
        rows = used & (y[None] >= b[:, 0:1]) & (y[None] < b[:, 2:3])
        cols = (x[None] >= b[:, 1:2]) & (x[None] < b[:, 3:4])
        yield j, rows[:, :, None] & cols[:, None, :]


def centred(cy, cx, sh, sw, h, w) -> np.ndarray:
    """int32 ``(..., 4)`` boxes ``[c - s // 2, c - s // 2 + s)`` along each axis, clipped to
    an ``h x w`` image (Cutout's and CutMix's placement); all arguments broadcast."""
    y0, x0 = np.asarray(cy) - np.asarray(sh) // 2, np.asarray(cx) - np.asarray(sw) // 2
    h, w = np.asarray(h), np.asarray(w)
    return np.stack(np.broadcast_arrays(np.clip(y0, 0, h), np.clip(x0, 0, w),
                                        np.clip(y0 + sh, 0, h), np.clip(x0 + sw, 0, w)),
                    -1).astype(np.int32)


def explain(rec) -> str:
    """The boxes of one record in use with some area, for people: ``(y0, x0, y1, x1) ...``,
    or ``""`` for none."""
    used = [tuple(b.tolist()) for b in rec["boxes"][:rec["count"]] if (b[2:] > b[:2]).all()]
    return " ".join(str(b) for b in used)
