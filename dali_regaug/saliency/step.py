"""KeepAugment's own per-step mode: a guided operator applied to a torch batch inside the
training loop, placed by saliency computed on that clean batch at that step (Gong et al.
2021, Algorithm 1), instead of maps from the bank that are at least the prefetch depth old.

The operator is the pipeline's (same sampler, same records, same kernels): CUDA tensors go
to the kernels through DLPack and CuPy on torch's current stream, CPU tensors the CPU kernels
(``kernels/cpu``; the emulator's with ``backend="emulator"``). It costs a saliency
pass per step (KeepAugment reports about 20% for its cheapest variants).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from dali_regaug.ops.placement import View


def apply(op, x, maps, *, augmented=None, sample_ids=None):
    """Apply guided ``op`` to ``x`` with ``maps`` for placement.

    Parameters
    ----------
    op : operator with a guided placement
        Such as ``catalog.get("keep_cutout").build(bank=None, layout="CHW", size=...)``.
    x : Tensor
        ``(B, C, H, W)`` float16 or float32 (or uint8), CPU or CUDA.
    maps : Tensor
        ``(B, h, w)`` saliency of ``x`` (a producer's output, any resolution over the
        image); the sampler averages it over its scoring grid, on the host.
    augmented : Tensor, optional
        ``A(x)`` for ``keep_paste``, like ``x``.
    sample_ids : Tensor, optional
        Per-sample ids for the random draws (see :mod:`dali_regaug.rng`).

    Returns
    -------
    (Tensor, structured ndarray)
        The augmented batch, on ``x``'s device, and the parameter records.
    """
    if op.layout != "CHW" or x.ndim != 4:
        raise ValueError(f"x must be a (B, C, H, W) batch and op built with layout='CHW', "
                         f"got x of shape {tuple(x.shape)} and layout={op.layout!r}")
    h, w = x.shape[2:]
    # the sampler resamples the maps to its grid on the host: the regions drawn do not
    # depend on the device's arithmetic
    view = maps.detach().cpu().float().numpy()
    ids = None if sample_ids is None else sample_ids.detach().cpu().numpy().astype(np.int64)
    recs = op.draw(np.tile([h, w], (len(x), 1)), ids,
                   view=View(list(view), np.ones(len(x), bool)))
    sources = (x,) if augmented is None else (x, augmented)
    with _stream_of(x):
        return op.apply(*sources, recs), recs


@contextlib.contextmanager
def _stream_of(x):
    """CuPy on ``x``'s device and torch's current stream there, for CUDA tensors (the
    kernels launch there)."""
    if not x.is_cuda:
        yield
        return
    import cupy

    stream = torch.cuda.current_stream(x.device)
    if hasattr(cupy.cuda.Stream, "from_external") and hasattr(stream, "__cuda_stream__"):
        stream = cupy.cuda.Stream.from_external(stream)  # CuPy >= 14
    else:
        stream = cupy.cuda.ExternalStream(stream.cuda_stream)
    with cupy.cuda.Device(x.device.index), stream:
        yield
