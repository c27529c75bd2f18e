"""Host-side facts about a batch, shared by the NumPy reference and the kernel launcher: its
arrays, sizes, channels and dtype; the output buffer a caller passes; per-sample record
bytes; and torch tensors taken in and given back through DLPack without a copy."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dali_regaug import validate
from dali_regaug.kernels import DTYPES


class Batch(NamedTuple):
    """A validated batch: its samples, per-sample heights and widths, channels, dtype, and
    whether it came as one stacked array (results then come back stacked)."""

    arrays: list
    h: np.ndarray
    w: np.ndarray
    c: int
    dtype: np.dtype | None
    stacked: bool


def describe(images, layout: str, name: str = "images") -> Batch:
    """The :class:`Batch` of ``images`` (a list of 3-D arrays or one 4-D array), validated:
    one supported dtype, one channel count, at least one pixel per sample. A 4-D array
    stays one array (its facts are read once, with no per-sample views)."""
    if isinstance(images, Batch):
        return images
    stacked = not isinstance(images, (list, tuple))
    arrays = images if stacked and getattr(images, "ndim", 0) == 4 else list(images)
    if not len(arrays):
        return Batch(arrays, np.zeros(0, np.int64), np.zeros(0, np.int64), 0, None, stacked)
    if arrays is images:  # one array: its facts once
        return _one(arrays, layout, name)
    dtypes = [np.dtype(a.dtype) for a in arrays]
    dtype = _dtype(dtypes[0], name)
    listed = shapes(arrays)
    hw = validate.image_shapes(listed, layout, name)
    if any(d != dtype for d in dtypes):
        raise TypeError(f"{name} mixes dtypes: {sorted({d.name for d in dtypes})}")
    ch = np.array([s[2] if layout == "HWC" else s[0] for s in listed])
    if (ch != ch[0]).any():
        raise ValueError(f"{name} mixes channel counts {sorted(set(ch.tolist()))} ({layout})")
    return Batch(arrays, hw[:, 0].copy(), hw[:, 1].copy(), channels(ch[0], name, layout),
                 dtype, stacked)


def _one(images, layout, name) -> Batch:
    """The :class:`Batch` of one 4-D array."""
    dtype = _dtype(np.dtype(images.dtype), name)
    (h, w), = validate.image_shapes([images.shape[1:]], layout, name)
    c = images.shape[3] if layout == "HWC" else images.shape[1]
    n = len(images)
    return Batch(images, np.full(n, h), np.full(n, w), channels(c, name, layout), dtype, True)


def _dtype(dtype, name):
    if dtype.name not in DTYPES:
        raise TypeError(f"{name} dtype {dtype.name} is not supported: expected one of "
                        f"{', '.join(DTYPES)}")
    if not dtype.isnative:  # the kernels read the machine's byte order
        raise TypeError(f"{name} dtype {dtype.str} is not in this machine's byte order: "
                        f"convert with .astype(np.{dtype.name})")
    return dtype


MAX_CHANNELS = 255  # a fill's counter is (pixel or region << 8) | channel


def channels(c, name="images", layout="") -> int:
    """``c``, checked: at most ``MAX_CHANNELS`` channels."""
    if c > MAX_CHANNELS:
        raise ValueError(f"{name} has {c} channels ({layout}): at most {MAX_CHANNELS} are "
                         f"supported")
    return int(c)


def shapes(arrays) -> list:
    """Each sample's shape (of a list, or of one stacked array without slicing it)."""
    if hasattr(arrays, "ndim"):
        return [tuple(arrays.shape[1:])] * len(arrays)
    return [tuple(a.shape) for a in arrays]


def check_out(out, arrays):
    """``out`` validated against the batch it receives: one C-contiguous array of the
    stacked batch's shape and dtype, on the same kind of device."""
    if not len(arrays):
        return out
    dtype = np.dtype(arrays[0].dtype)
    listed = shapes(arrays)
    if any(s != listed[0] for s in listed):
        raise ValueError("out needs a batch of samples of one shape")
    shape = (len(arrays), *listed[0])
    if isinstance(out, (list, tuple)) or not hasattr(out, "shape"):
        raise TypeError(f"out must be one array of the stacked batch's shape {shape}, got "
                        f"{type(out).__name__}")
    if type(out).__module__.split(".")[0] != type(arrays[0]).__module__.split(".")[0] or \
            tuple(out.shape) != shape or np.dtype(out.dtype) != dtype or \
            not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {type(arrays[0]).__name__} of shape "
                         f"{shape} and dtype {dtype}, got {type(out).__name__} "
                         f"{tuple(out.shape)} {np.dtype(out.dtype)}")
    if not getattr(out.flags, "writeable", True):
        raise ValueError("out is read-only (a read-only array, or a view of immutable or "
                         "read-only mapped memory): pass a writeable buffer")
    return out


def check_aliases(table: np.ndarray, nbytes, out_lo: int, out_hi: int) -> None:
    """Refuse a launch whose output overlaps a sample's input anywhere but at that sample's
    own output (``out`` given as the images themselves is fine; ``out`` given as the images
    in another order would overwrite a sample another one still reads). ``table`` has the
    launch table's ``in`` addresses, ``nbytes`` each sample's size."""
    lo = table["in"]
    clash = (lo != table["out"]) & (lo < np.uint64(out_hi)) & \
        (lo + np.asarray(nbytes, np.uint64) > np.uint64(out_lo))
    for i in np.flatnonzero(clash)[:1]:
        raise ValueError(f"out overlaps the input of sample {i} elsewhere than at sample "
                         f"{i}'s own output: writing it would overwrite pixels another sample "
                         f"still reads; pass a separate buffer (or the images themselves)")


def pointer(a) -> int:
    """Address of an array's first element (NumPy or CuPy)."""
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


def overlaps(out, arrays) -> bool:
    """Whether ``out``'s memory overlaps any of ``arrays``'."""
    lo = pointer(out)
    hi = lo + out.nbytes
    arrays = [arrays] if hasattr(arrays, "ndim") else arrays
    return any(pointer(a) < hi and lo < pointer(a) + a.nbytes for a in arrays)


def scalars(batch) -> np.ndarray:
    """One value per sample from a DALI batch of per-sample scalars."""
    try:  # one conversion for a regular batch (the common case)
        flat = np.asarray(batch)
        if flat.size == len(flat):
            return flat.reshape(-1)
    except ValueError:
        pass
    return np.array([np.ravel(v)[0] for v in batch])


def rows(recs: np.ndarray) -> list:
    """Per-sample record bytes, as DALI passes them between nodes."""
    return list(recs.view(np.uint8).reshape(len(recs), -1))


def records(params, dtype: np.dtype):
    """Records of ``dtype`` from per-sample record bytes (host), or ``params`` itself when
    it already is records or device bytes (the launcher reads those in place)."""
    if isinstance(params, np.ndarray) and params.dtype.names:
        return params
    if len(params) and not isinstance(params[0], np.ndarray):
        return params  # device bytes
    return np.ascontiguousarray(np.stack(list(params))).view(dtype).reshape(-1)


def shape_groups(arrays):
    """``(indices, stacked batch)`` per distinct shape; a zero-copy view when DALI's batch
    is one contiguous buffer."""
    if hasattr(arrays, "ndim"):
        return [(np.arange(len(arrays)), arrays)]
    if arrays and all(a.shape == arrays[0].shape for a in arrays):
        return [(np.arange(len(arrays)), _stack(arrays))]
    groups: dict = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.shape, []).append(i)
    return [(np.array(ix), _stack([arrays[i] for i in ix])) for ix in groups.values()]


def group_buffers(groups, workspace=None, count=1):
    """``count`` lists of arrays shaped like each group's batch, to write results into:
    views laid end to end in ``workspace(nbytes)`` (a reused uint8 buffer), or ``None``
    each (allocate) without one."""
    if workspace is None:
        return [[None] * len(groups) for _ in range(count)]
    buf, offset, views = workspace(count * sum(b.nbytes for _, b in groups)), 0, []
    for _ in range(count):
        row = []
        for _, b in groups:
            row.append(buf[offset:offset + b.nbytes].view(b.dtype).reshape(b.shape))
            offset += b.nbytes
        views.append(row)
    return views


def ungroup(groups, results, stacked: bool):
    """Per-group results back in the batch's order: one stacked array for a ``stacked``
    batch, else a list of samples."""
    if stacked and len(groups) == 1:
        return results[0]
    outs = [None] * sum(len(idx) for idx, _ in groups)
    for (idx, _), res in zip(groups, results):
        for j, i in enumerate(idx):
            outs[i] = res[j]
    return np.stack(outs) if stacked else outs


def _stack(arrays):
    table, order = as_rows(arrays)
    if np.array_equal(order, np.arange(len(arrays))):
        return table
    return np.stack(arrays)


def as_rows(arrays):
    """``(table, rows)`` with ``table[rows[i]]`` equal to ``arrays[i]`` (all of one shape and
    dtype): a zero-copy, read-only view when the arrays are C-contiguous and together tile one
    stretch of memory (a DALI batch, or a batch's samples in any order, as partners are),
    else a stacked copy and ``arange``."""
    a0 = arrays[0]
    step, ptrs = a0.nbytes, np.array([a.ctypes.data for a in arrays], np.int64)
    base = int(ptrs.min())
    at, off = np.divmod(ptrs - base, max(step, 1))
    # Every row between the lowest and highest address must be one of the arrays, so that
    # the view covers only memory they own.
    if step and not off.any() and at.max() < len(arrays) and \
            all(a.flags.c_contiguous for a in arrays) and \
            np.array_equal(np.unique(at), np.arange(at.max() + 1)):
        lowest = arrays[int(np.argmin(ptrs))]
        table = np.lib.stride_tricks.as_strided(lowest, (int(at.max()) + 1, *a0.shape),
                                                (step, *a0.strides), writeable=False)
        return table, at
    return np.stack(arrays), np.arange(len(arrays))


def from_torch(images, written: bool = False):
    """``(arrays, back)``: torch tensors (one batch tensor or a list, CPU or CUDA) as NumPy
    or CuPy arrays sharing their memory, and ``back(result)`` giving the result as tensors
    of the same structure. Anything else passes through with ``back`` the identity. A tensor
    to be ``written`` (an ``out``) must be contiguous: a copy would take the writes."""
    first = images[0] if isinstance(images, (list, tuple)) and len(images) else images
    if not type(first).__module__.startswith("torch"):
        return images, lambda result: result
    import torch  # only reached with torch tensors in hand

    def take(t):
        t = t.detach()
        if written and not t.is_contiguous():
            raise ValueError(f"out must be a contiguous tensor (strides {t.stride()}): the "
                             f"result would go to a copy")
        if t.is_cuda:
            import cupy

            return cupy.from_dlpack(t.contiguous())
        return t.contiguous().numpy()

    def give(a):
        return torch.from_dlpack(a) if not isinstance(a, np.ndarray) else torch.from_numpy(a)

    if isinstance(images, (list, tuple)):
        return [take(t) for t in images], lambda result: [give(a) for a in result]
    return take(images), lambda result: give(result) if not isinstance(result, list) \
        else [give(a) for a in result]
