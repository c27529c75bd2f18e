"""The element type of a DALI node, read from the graph when the pipeline is defined.

DALI's ``numba_function`` declares its input and output types when the graph is built, so
an operator's CPU kernel node needs its images' dtype then: DALI's own output metadata
(decoders give uint8, ``crop_mirror_normalize`` and ``cast`` their ``dtype``,
``external_source`` its ``dtype``), followed through operators whose output has their
input's type unless a ``dtype`` argument says otherwise, and through ours. When the graph
cannot tell, the operator's kernel runs inside a ``python_function`` instead (the same
kernel, with the GIL held around it and DALI copying its output). A type the graph got
wrong is refused by DALI when the batch arrives, never reinterpreted.
"""

from __future__ import annotations

from nvidia.dali import types

from dali_regaug import layouts

NAMES = {types.UINT8: "uint8", types.FLOAT16: "float16", types.FLOAT: "float32"}
TYPES = {v: k for k, v in NAMES.items()}
# operators whose output has their first input's type unless their `dtype` says otherwise
KEEP = {"resize", "rotate", "flip", "crop", "slice", "pad", "transpose", "permute_batch",
        "copy", "warp_affine", "random_resized_crop", "resize_crop_mirror",
        "fast_resize_crop_mirror", "erase", "grid_mask", "jitter", "water", "sphere", "paste",
        "multi_paste", "brightness_contrast", "brightness", "contrast", "hsv", "hue",
        "saturation", "color_twist", "gaussian_blur", "reshape", "reinterpret",
        "tensor_resize"}


def mark(node, dtype: str | None):
    """Record on ``node``'s operator the dtype of an output an operator of ours made."""
    node.source.__dict__.setdefault("_regaug_dtypes", {})[node.index] = dtype
    return node


def of(node) -> str | None:
    """``"uint8"``, ``"float16"`` or ``"float32"`` when the graph gives ``node`` that
    type, else None (another type, or one the graph cannot tell)."""
    marked = getattr(getattr(node, "source", None), "_regaug_dtypes", {})
    if getattr(node, "index", None) in marked:
        return marked[node.index]
    described = layouts.described(node, layouts.DTYPE)
    if described is not None:
        return NAMES.get(described)
    name, args, inputs = layouts.maker(node)
    if name in KEEP and inputs:
        given = args.get("dtype")
        return NAMES.get(given) if given is not None else of(inputs[0])
    return None
