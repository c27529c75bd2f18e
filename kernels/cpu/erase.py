"""Numba twin of ``kernels/erase.cu``: the boxes of each sample's rectangle set are filled,
later boxes over earlier ones (Random Erasing, Cutout and the detection erasers)."""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from dali_regaug import records
from dali_regaug.kernels.cpu.common import FILL_VALUES, JIT, address, clipped_box, copy_span, \
    word
from dali_regaug.kernels.cpu.fill import fill_span, stored_values

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
    """The image is copied, then each box filled in order (later boxes over earlier ones,
    as ``last_box``), a row of it at a time."""
    i4 = rec.view(np.int32)
    key = rec.view(np.uint64)[KEY]
    stored = stored_values(values, nc, out)
    hw = h * w
    copy_span(out, x, 0, hw, hw, nc, hwc)
    for i in range(i4[COUNT]):
        y0, x0, y1, x1 = clipped_box(i4, BOXES + 4 * i, h, w)
        if x0 >= x1 or y0 >= y1:
            continue
        if mode == FILL_VALUES and not hwc:  # a 2-D assignment per plane: no view per row
            for c in range(nc):
                out[c * hw:(c + 1) * hw].reshape(h, w)[y0:y1, x0:x1] = stored[c]
            continue
        for y in range(y0, y1):
            fill_span(out, y * w + x0, x1 - x0, hw, nc, hwc, i, mode, stored, key)
