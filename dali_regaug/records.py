"""Every record and constant shared by Python and the CUDA kernels, in one place.

The kernels read these bytes as C structs (``kernels/*.cu``, ``kernels/*.cuh``); each dtype
here is the owner of its struct's layout, and ``tests/test_records.py`` compiles the structs
with the emulator's C++ compiler and compares every ``offsetof`` and ``sizeof`` with it. Each
``.cu`` also ``static_assert``s its structs' sizes, so a layout change that misses this file
fails to compile.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

# kernels/common.cuh Sample: one row of the launch table.
TABLE = np.dtype([("in", "<u8"), ("in2", "<u8"), ("out", "<u8"), ("params", "<u8"),
                  ("height", "<i8"), ("width", "<i8")])

# kernels/grid_mask.cu GridMaskParams.
GRID_MASK = np.dtype([("key", "<u8"), ("apply", "<i4"), ("d", "<i4"), ("keep", "<i4"),
                      ("off_x", "<i4"), ("off_y", "<i4"), ("reverse", "<i4"),
                      ("rotated", "<i4"), ("unit_threshold", "<u4"), ("cos_t", "<f4"),
                      ("sin_t", "<f4"), ("angle", "<f4"), ("pad", "<i4")])
UNIT_ONE = 1 << 24  # GridMaskParams.unit_threshold meaning "always drop"

# kernels/rectset.cuh RectHeader, followed by the boxes (see rect_set).
RECT_HEADER = np.dtype([("key", "<u8"), ("count", "<i4"), ("w_in", "<f4"), ("w_out", "<f4"),
                        ("pad", "<i4")])


@functools.lru_cache(maxsize=None)
def rect_set(max_boxes: int) -> np.dtype:
    """A RectHeader and room for ``max_boxes`` int ``(y0, x0, y1, x1)`` boxes after it."""
    return np.dtype(RECT_HEADER.descr + [("boxes", "<i4", (max(1, max_boxes), 4))])


# kernels/common.cuh STREAM_*: the random streams the kernels hash (dali_regaug.rng has the
# host-only ones).
STREAM_PIXEL, STREAM_REGION, STREAM_UNIT = 0, 1, 2

# kernels/common.cuh FILL_*: fill modes.
FILL_VALUES, FILL_REGION, FILL_PIXEL = 0, 1, 2


class Struct(NamedTuple):
    """Where a struct is defined, and the dtype that owns its layout."""

    name: str
    source: str
    dtype: np.dtype


STRUCTS = (Struct("Sample", "common.cuh", TABLE),
           Struct("GridMaskParams", "grid_mask.cu", GRID_MASK),
           Struct("RectHeader", "rectset.cuh", RECT_HEADER))
CONSTANTS = {"STREAM_PIXEL": STREAM_PIXEL, "STREAM_REGION": STREAM_REGION,
             "STREAM_UNIT": STREAM_UNIT, "FILL_VALUES": FILL_VALUES,
             "FILL_REGION": FILL_REGION, "FILL_PIXEL": FILL_PIXEL}
