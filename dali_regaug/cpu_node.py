"""An operator's apply node on CPU: its numba kernel (``kernels/cpu``) inside DALI's
``numba_function``, which runs outside the GIL in DALI's thread pool, reads the images in
place and writes DALI's output buffer directly.

Per sample (``batch_processing=False``) DALI's threads take the samples in parallel. With
partners from the batch (CutMix, MixUp), the node takes the whole batch and the partner
indices instead, so a partner is read where it lies rather than from a permuted copy.
float16 images pass as their bits (uint16), the type the kernels store them as: DALI's
plugin refuses float16.
"""

from __future__ import annotations

import functools

from nvidia.dali import fn as dali_fn
from nvidia.dali import types

from dali_regaug import dtypes, extras

NODE_NAME = "RegionKernel"  # the node's operator, as DALI's errors name it


@functools.lru_cache(maxsize=None)
def node_class():
    """DALI's ``numba_function`` given the kernels' compiled C entry points (addresses),
    instead of Python functions that it would compile at every pipeline build (imported
    when first needed: GPU pipelines need no numba)."""
    extras.numba()
    from nvidia.dali.plugin import numba as dali_numba

    base = dali_numba.NumbaFunction
    if not all(hasattr(base, f) for f in ("_get_run_fn_cpu", "_get_setup_fn_cpu")):
        raise ImportError("this DALI's numba plugin compiles its functions differently from "
                          "DALI 2.4's, which dali_regaug's CPU node builds on: install "
                          "nvidia-dali 2.4")
    overrides = {"_get_run_fn_cpu": lambda self, run_fn, *args: run_fn,
                 "_get_setup_fn_cpu": lambda self, setup_fn: setup_fn}
    return type(NODE_NAME, (base,), overrides)


def apply(images, second, params, settings, *, dtype: str, layout: str, batch: bool):
    """The applied images.

    Parameters
    ----------
    images : DataNode
        CPU images of ``dtype``.
    second : DataNode or None
        The second sources (per sample), or with ``batch`` the partner indices (int32).
    params, settings : DataNode
        The sampler's record bytes and the kernel settings
        (:meth:`dali_regaug.ops.base.Op.settings`).
    dtype : {"uint8", "float16", "float32"}
    layout : {"HWC", "CHW"}
    batch : bool
        Whole batches (partners by index) rather than one sample per call.
    """
    from dali_regaug.kernels.cpu import run  # compiled or loaded from the cache once

    bits = dtype == "float16"
    kind = types.UINT16 if bits else dtypes.TYPES[dtype]
    as_kind = (lambda x: dali_fn.reinterpret(x, dtype=kind)) if bits else (lambda x: x)
    ins, in_types, ins_ndim = [as_kind(images)], [kind], [3]
    if second is not None:
        ins.append(second if batch else as_kind(second))
        in_types.append(types.INT32 if batch else kind)
        ins_ndim.append(0 if batch else 3)
    node = node_class()(run_fn=(run.dali_batch if batch else run.dali_sample).address,
                     setup_fn=run.same_shape.address, in_types=in_types + [types.UINT8,
                     types.FLOAT], ins_ndim=ins_ndim + [1, 1], out_types=[kind], outs_ndim=[3],
                     batch_processing=batch, device="cpu")
    out = node(*ins, params, settings)
    return dali_fn.reinterpret(out, dtype=dtypes.TYPES[dtype], layout=layout)
