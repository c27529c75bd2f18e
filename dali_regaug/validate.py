"""Argument checks run when a pipeline is built; each error names the argument, its value
and what is allowed."""

from __future__ import annotations

import numbers

import numpy as np


def number(name: str, value, lo=None, hi=None, *, integer=False) -> float | int:
    """``value`` as a number within ``[lo, hi]``."""
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, numbers.Integral if integer else numbers.Real)
    if not ok or isinstance(value, bool):
        raise TypeError(f"{name}={value!r}: expected {kind}")
    if (lo is not None and value < lo) or (hi is not None and value > hi) or value != value:
        raise ValueError(f"{name}={value!r} is out of range: expected {_bounds(name, lo, hi)}")
    return int(value) if integer else float(value)


def interval(name: str, value, lo=None, hi=None, *, integer=False) -> tuple:
    """A number or a ``(min, max)`` pair within ``[lo, hi]``, as a pair with min <= max."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name}={value!r}: expected a number or a (min, max) pair")
    a = number(f"{name}[0]", pair[0], lo, hi, integer=integer)
    b = number(f"{name}[1]", pair[1], lo, hi, integer=integer)
    if a > b:
        raise ValueError(f"{name}={value!r}: min {a} is greater than max {b}")
    return a, b


def flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}={value!r}: expected True or False")
    return value


def layout(value) -> str:
    if not isinstance(value, str) or value.upper() not in ("HWC", "CHW"):
        raise ValueError(f"layout={value!r}: expected 'HWC' or 'CHW'")
    return value.upper()


MAX_SIDE = 2**29  # pixels per image side (and channels), at most this minus one


def image_shapes(shapes, layout: str, name: str = "images"):
    """``(N, 2)`` int64 heights and widths from per-sample shapes in ``layout``; a sample
    that is not 3-D, or has no pixel or no channel, is named."""
    if not len(shapes):
        return np.zeros((0, 2), np.int64)
    try:  # one conversion when every sample is 3-D (the common case)
        flat = np.array(shapes, np.int64)
    except ValueError:  # ragged: some sample is not 3-D
        flat = None
    if flat is None or flat.shape != (len(shapes), 3):  # each sample's numbers
        rows = [np.ravel(s) for s in shapes]
        flat = np.array(rows, np.int64) if all(len(r) == 3 for r in rows) else rows
    bad = np.flatnonzero((flat < 1).any(1)) if isinstance(flat, np.ndarray) else \
        [i for i, r in enumerate(flat) if len(r) != 3]
    if len(bad):
        raise ValueError(f"{name}: sample {bad[0]} has shape "
                         f"{tuple(int(d) for d in flat[bad[0]])}; expected 3-D {layout} with "
                         f"at least one pixel and one channel")
    big = np.flatnonzero((flat >= MAX_SIDE).any(1))
    if len(big):
        raise ValueError(f"{name}: sample {big[0]} has shape "
                         f"{tuple(int(d) for d in flat[big[0]])}; each side must stay below "
                         f"{MAX_SIDE} (the kernels' 32-bit coordinates)")
    return flat[:, :2] if layout == "HWC" else flat[:, 1:]


def sizes(hw) -> np.ndarray:
    """``(N, 2)`` int64 heights and widths, each at least 1."""
    hw = np.asarray(hw)
    if hw.ndim != 2 or hw.shape[1] != 2 or hw.dtype.kind not in "iuf":
        raise ValueError(f"hw: expected (N, 2) heights and widths, got an array of shape "
                         f"{hw.shape} (image shapes go through their layout first)")
    if len(hw) and not hw.min() >= 1:  # (NaN too)
        bad = np.flatnonzero(~(hw >= 1).all(1))[0]
        raise ValueError(f"hw: sample {bad} has size {tuple(hw[bad].tolist())}; each needs at "
                         f"least one pixel")
    return hw.astype(np.int64, copy=False)


def seed(value) -> int | None:
    if value is None:
        return None
    return number("seed", value, 0, 2**63 - 1, integer=True)


def _bounds(name, lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"{lo} <= {name} <= {hi}"
    return f"{name} >= {lo}" if lo is not None else f"{name} <= {hi}"
