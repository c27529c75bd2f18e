"""DALI operators, used inside ``@pipeline_def`` like ``nvidia.dali.fn``.

One function per declared operator (:mod:`dali_regaug.ops.catalog`), all called the same
way: ``fn.NAME(images, <required inputs>, <optional inputs and arguments by keyword>)``,
returning the images, or the images and the declared outputs in order (then the parameter
records with ``return_params=True``). Each docstring lists the operator's inputs, arguments
(with ranges and defaults) and outputs; ``dali-regaug ops NAME`` prints the same.

Operators are registered with the pipeline under ``name`` so that
:func:`dali_regaug.set_epoch`, :func:`dali_regaug.state_dict` and
:func:`dali_regaug.load_state_dict` reach them.
"""

from __future__ import annotations

from dali_regaug import extras

extras.dali()  # in the CUDA-flavour extras: a missing DALI is named with them

from dali_regaug import batch as batch_mod  # noqa: E402
from dali_regaug.adapter import call, image_level  # noqa: E402
from dali_regaug.ops import catalog  # noqa: E402

__all__ = ["image_level", "decode_params", *catalog.operators()]


def _function(decl):
    def op(*args, **kwargs):
        return call(decl, args, kwargs)

    op.__name__ = op.__qualname__ = decl.name
    op.__module__ = __name__
    op.__doc__ = decl.doc()
    op.__signature__ = decl.signature()
    return op


globals().update({name: _function(decl) for name, decl in catalog.operators().items()})


def decode_params(op_or_dtype, rows):
    """Parameter records from the bytes that ``return_params`` outputs.

    Parameters
    ----------
    op_or_dtype : operator object or numpy dtype
        The operator (``dali_regaug.registry.ops(pipe)[name]``) or its ``params_dtype``.
    rows : TensorList, list of arrays or 2-D array
        One row of bytes per sample.
    """
    dtype = getattr(op_or_dtype, "params_dtype", op_or_dtype)
    if hasattr(rows, "as_array"):
        rows = rows.as_array()
    return batch_mod.records(list(rows), dtype)
