"""Numba twin of ``kernels/erase.cu``: the boxes of each sample's rectangle set are filled,
later boxes over earlier ones (Random Erasing, Cutout and the detection erasers)."""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from dali_regaug import records
from dali_regaug.kernels.cpu.common import JIT, address, copy_span, paint_boxes, \
    stored_values, word, write_row

KEY = word(records.RECT_HEADER, "key", 8)
COUNT, W_IN, W_OUT = (word(records.RECT_HEADER, f) for f in ("count", "w_in", "w_out"))
BOXES = records.RECT_HEADER.itemsize // 4


@njit(**JIT)
def record(addr):
    """A rectangle set's bytes: its header, then ``count`` boxes."""
    count = carray(address(addr), BOXES, np.int32)[COUNT]
    return carray(address(addr), 4 * (BOXES + 4 * max(count, 1)), np.uint8)


@njit(**JIT)
def sample(out, x, x2, rec, h, w, nc, hwc, mode, values):
    i4 = rec.view(np.int32)
    key = rec.view(np.uint64)[KEY]
    stored = stored_values(values, nc, out)
    codes = np.empty(w, np.int64)
    hw = h * w
    for y in range(h):
        if paint_boxes(codes, i4, BOXES, i4[COUNT], y, w):
            write_row(out, x, y, w, hw, nc, hwc, codes, mode, stored, key)
        else:
            copy_span(out, x, y * w, w, hw, nc, hwc)
