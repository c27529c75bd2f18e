"""What erased pixels become: the fill modes shared by every masking operator.

``fill`` is a number (one constant), a sequence (a constant per channel), ``"random"``
(per-pixel noise, as in Random Erasing's ``Rand(0, 255)``) or ``"region"`` (one random value
per channel per erased region). Noise matches the data's scale: U{0..255} for uint8, N(0, 1)
for float data, which is normalized by the time region operators see it.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from dali_regaug import rng

VALUES, REGION, PIXEL = 0, 1, 2  # kernels/common.cuh FILL_*
_NAMED = {"random": PIXEL, "pixel": PIXEL, "region": REGION}


class Fill(NamedTuple):
    mode: int
    values: tuple = ()


def parse(value, name: str = "fill") -> Fill:
    """Validate a ``fill`` argument."""
    if isinstance(value, str):
        if value not in _NAMED:
            raise ValueError(f"{name}={value!r}: expected a number, a per-channel sequence, "
                             f"'random' (per-pixel noise) or 'region' (per-region colour)")
        return Fill(_NAMED[value])
    seq = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not seq or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and v == v
                          for v in seq):
        raise TypeError(f"{name}={value!r}: expected a number, a non-empty sequence of numbers, "
                        f"'random' or 'region'")
    return Fill(VALUES, tuple(float(v) for v in seq))


def channel_values(fill: Fill, channels: int, name: str = "fill") -> np.ndarray:
    """The per-channel constants as float32[channels] (zeros for random modes)."""
    if fill.mode != VALUES:
        return np.zeros(channels, np.float32)
    if len(fill.values) not in (1, channels):
        raise ValueError(f"{name}={list(fill.values)} has {len(fill.values)} values for images "
                         f"with {channels} channels: give 1 or {channels}")
    return np.broadcast_to(np.float32(fill.values), (channels,)).copy()


def store(values: np.ndarray, dtype) -> np.ndarray:
    """float32 values converted to ``dtype`` as the kernels store them."""
    if np.dtype(dtype) == np.uint8:
        return np.rint(np.clip(values, 0, 255)).astype(np.uint8)
    return np.asarray(values, np.float32).astype(dtype)


def apply(batch, drop, fill: Fill, layout: str, keys, regions=None) -> np.ndarray:
    """``batch`` with the pixels where ``drop`` is true filled (the NumPy path).

    Parameters
    ----------
    batch : ndarray
        ``(G, H, W, C)`` or ``(G, C, H, W)`` images of one shape.
    drop : ndarray of bool
        Broadcastable to ``(G, H, W)``.
    fill : Fill
    layout : {"HWC", "CHW"}
    keys : ndarray of uint64
        ``(G,)`` random keys of the samples.
    regions : ndarray of uint64, optional
        Broadcastable to ``(G, H, W)``: region code per pixel, needed for ``"region"`` fills.
    """
    g, h, w = batch.shape[:3] if layout == "HWC" else (batch.shape[0], *batch.shape[2:])
    c = batch.shape[3] if layout == "HWC" else batch.shape[1]
    drop = np.broadcast_to(drop, (g, h, w))
    if fill.mode == VALUES:
        v = store(channel_values(fill, c), batch.dtype)
        if layout == "HWC":
            return np.where(drop[..., None], v, batch)
        return np.where(drop[:, None], v[:, None, None], batch)
    out = batch.copy()
    gi, yi, xi = np.nonzero(drop)
    if fill.mode == REGION:
        counter = np.broadcast_to(regions, (g, h, w))[gi, yi, xi].astype(np.uint64)
        stream = rng.STREAM_REGION
    else:
        counter = (yi.astype(np.uint64) * np.uint64(w) + xi.astype(np.uint64))
        stream = rng.STREAM_PIXEL
    cnt = (counter[:, None] << np.uint64(8)) | np.arange(c, dtype=np.uint64)[None, :]
    hsh = rng.hash3(np.asarray(keys, np.uint64)[gi][:, None], stream, cnt)
    vals = (hsh >> np.uint64(56)).astype(np.float32) if batch.dtype == np.uint8 \
        else rng.normal_from_hash(hsh)
    view = out if layout == "HWC" else out.transpose(0, 2, 3, 1)
    view[gi, yi, xi] = store(vals, batch.dtype)
    return out
