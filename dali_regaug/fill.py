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

from dali_regaug import records, rng

VALUES, REGION, PIXEL = records.FILL_VALUES, records.FILL_REGION, records.FILL_PIXEL
_NAMED = {"random": PIXEL, "pixel": PIXEL, "region": REGION}
CHUNK = 16384  # dropped pixels per step of a random fill, so its temporaries stay in cache


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
    if not all(abs(v) <= float(np.finfo(np.float32).max) for v in seq):
        raise ValueError(f"{name}={value!r}: a fill must be finite and within float32's range")
    return Fill(VALUES, tuple(float(v) for v in seq))


def channel_values(fill: Fill, channels: int, dtype=None, name: str = "fill") -> np.ndarray:
    """The per-channel constants as float32[channels] (zeros for random modes), checked to
    be representable in the images' ``dtype`` when given: uint8 takes whole numbers in
    [0, 255], float16 values within its range (else they would be rounded, clipped or
    become inf without a word)."""
    if fill.mode != VALUES:
        return np.zeros(channels, np.float32)
    if len(fill.values) not in (1, channels):
        raise ValueError(f"{name}={list(fill.values)} has {len(fill.values)} values for images "
                         f"with {channels} channels: give 1 or {channels}")
    values = np.broadcast_to(np.float32(fill.values), (channels,)).copy()
    dtype = None if dtype is None else np.dtype(dtype)
    if dtype == np.uint8 and not all(v == int(v) and 0 <= v <= 255 for v in fill.values):
        raise ValueError(f"{name}={_shown(fill)} cannot be stored in uint8 images: give whole "
                         f"numbers in [0, 255] (normalize first for fractional fills)")
    if dtype == np.float16 and not (np.abs(values) <= np.finfo(np.float16).max).all():
        raise ValueError(f"{name}={_shown(fill)} cannot be stored in float16 images: their "
                         f"largest value is {float(np.finfo(np.float16).max)}")
    return values


def _shown(fill: Fill):
    return fill.values[0] if len(fill.values) == 1 else list(fill.values)


def store(values: np.ndarray, dtype) -> np.ndarray:
    """float32 values converted to ``dtype`` as the kernels store them."""
    if np.dtype(dtype) == np.uint8:
        return np.rint(np.clip(values, 0, 255)).astype(np.uint8)
    return np.asarray(values, np.float32).astype(dtype, copy=False)


def apply(batch, drop, fill: Fill, layout: str, keys, regions=None, out=None) -> np.ndarray:
    """``batch`` with the pixels where ``drop`` is true filled (the NumPy reference).

    Parameters
    ----------
    batch : ndarray
        ``(G, H, W, C)`` or ``(G, C, H, W)`` images of one shape.
    drop : ndarray of bool, or of int
        Broadcastable to ``(G, H, W)``; or the dropped pixels as flat indices
        ``(sample * H + y) * W + x`` (erasing: the cost then follows them), distinct for
        ``"region"`` fills (elsewhere a repeated pixel gets the same value again).
    fill : Fill
    layout : {"HWC", "CHW"}
    keys : ndarray of uint64
        ``(G,)`` random keys of the samples.
    regions : ndarray of int, optional
        Region code per pixel, needed for ``"region"`` fills: broadcastable to ``(G, H, W)``
        with a mask, one per index with indices.
    out : ndarray, optional
        C-contiguous array of ``batch``'s shape and dtype to write the result into; it may
        be ``batch`` itself (only the dropped pixels are then written).
    """
    g, h, w = batch.shape[:3] if layout == "HWC" else (batch.shape[0], *batch.shape[2:])
    c = batch.shape[3] if layout == "HWC" else batch.shape[1]
    indexed = np.asarray(drop).dtype != bool
    drop = np.asarray(drop) if indexed else np.broadcast_to(drop, (g, h, w))
    if out is None:
        out = np.empty(batch.shape, batch.dtype)
    if out.ctypes.data != batch.ctypes.data or out.strides != batch.strides:
        np.copyto(out, batch)  # one copy (none in place); dropped pixels are then written
    if fill.mode == VALUES:
        v = store(channel_values(fill, c, batch.dtype), batch.dtype)
        if indexed:
            _write(out, drop, np.broadcast_to(v, (len(drop), c)), layout, h * w)
        elif (v == v[0]).all():  # one value: a scalar fill, no per-channel broadcast
            np.copyto(out, v[0], where=drop[:, :, :, None] if layout == "HWC" else drop[:, None])
        elif layout == "HWC":
            np.copyto(_pixels(out), _pixels(v), where=drop)
        else:
            np.copyto(out, v[:, None, None], where=drop[:, None])
        return out
    flat = drop if indexed else np.flatnonzero(drop)  # as (sample * H + y) * W + x
    keys = np.asarray(keys, np.uint64)
    codes = None
    if fill.mode == REGION:
        codes = regions if indexed else np.broadcast_to(regions, (g, h, w)).reshape(-1)[flat]
    for start in range(0, len(flat), CHUNK):
        f = flat[start:start + CHUNK]
        gi, pix = np.divmod(f, h * w)
        # the counter of each value: (region code or pixel index, channel); hashed only for
        # the dropped pixels, so the cost follows them, not the image size
        at, stream = (codes[start:start + CHUNK], records.STREAM_REGION) if codes is not None \
            else (pix, records.STREAM_PIXEL)
        cnt = (at.astype(np.uint64)[:, None] << np.uint64(8)) | \
            np.arange(c, dtype=np.uint64)[None, :]
        hsh = rng.keyed(keys[gi][:, None], rng.counter_hash(stream, cnt))
        vals = store((hsh >> np.uint64(56)).astype(np.float32) if batch.dtype == np.uint8
                     else rng.normal_from_hash(hsh), batch.dtype)
        _write(out, f, vals, layout, h * w)
    return out


def _write(out, flat, vals, layout, hw):
    """``out``'s pixels at flat indices ``(sample * H + y) * W + x`` set to ``vals``
    (``(len(flat), C)``)."""
    if layout == "HWC":
        _pixels(out).reshape(-1)[flat] = _pixels(np.ascontiguousarray(vals))
        return
    c = out.shape[1]
    gi, pix = np.divmod(flat, hw)
    at = gi * (c * hw) + pix
    for ch in range(c):  # one plane at a time: sorted 1-D writes, not a strided scatter
        out.reshape(-1)[at + ch * hw] = vals[:, ch]


def _pixels(a: np.ndarray) -> np.ndarray:
    """A C-contiguous ``(..., C)`` array viewed as ``(...)`` whole pixels (one void item
    each), so that masked and indexed writes move a pixel at a time."""
    return a.view(np.dtype((np.void, a.shape[-1] * a.itemsize)))[..., 0]
