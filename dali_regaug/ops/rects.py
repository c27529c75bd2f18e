"""Rectangle sets: the parameter record of erasing (Random Erasing, Cutout) and of the
two-source composite (CutMix, MixUp, KeepAugment's paste).

Boxes are integer, half-open ``(y0, x0, y1, x1)`` in pixels. A record holds ``count`` boxes
in use; later boxes paint over earlier ones, and a box of zero area covers nothing.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=None)
def params_dtype(max_boxes: int) -> np.dtype:
    """Record with room for ``max_boxes`` boxes (kernels/rectset.cuh RectHeader + boxes)."""
    return np.dtype([("key", "<u8"), ("count", "<i4"), ("w_in", "<f4"), ("w_out", "<f4"),
                     ("pad", "<i4"), ("boxes", "<i4", (max(1, max_boxes), 4))])


def last_box(p: np.ndarray, h: int, w: int) -> np.ndarray:
    """``(G, H, W)`` int16: index of the last box covering each pixel, -1 where none does."""
    y, x = np.arange(h), np.arange(w)
    hit = np.full((len(p), h, w), -1, np.int16)
    for j in range(min(int(p["count"].max(initial=0)), p["boxes"].shape[1])):  # slots in use
        b = p["boxes"][:, j]
        used = (p["count"] > j)[:, None]
        rows = used & (y[None] >= b[:, 0:1]) & (y[None] < b[:, 2:3])
        cols = (x[None] >= b[:, 1:2]) & (x[None] < b[:, 3:4])
        np.copyto(hit, np.int16(j), where=rows[:, :, None] & cols[:, None, :])
    return hit
