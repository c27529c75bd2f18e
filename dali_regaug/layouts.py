"""The layout of a DALI node: read from the graph when the pipeline is defined, checked
against the data when it runs.

``python_function`` fixes the layout of its output when the graph is built, and DALI's
nodes do not carry their layout until run time. So an operator takes its layout from the
graph: DALI's own output metadata (decoders give ``HWC``, ``crop_mirror_normalize`` its
``output_layout``, ``external_source`` its ``layout``), followed through operators that keep
their input's layout (``resize``, ``cast``, ``flip``, ...) and through ours. When the graph
cannot tell, the operator asks for ``layout=``. At run time each batch's layout (DALI's
``get_property(key="layout")``) must be the one the operator was built for, or empty when
``layout=`` said it: otherwise the batch would be masked along the wrong axes.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import validate

# operators whose output has their first input's layout
KEEP = {"resize", "rotate", "flip", "brightness_contrast", "brightness", "contrast",
        "color_twist", "hsv", "hue", "saturation", "cast", "cast_like", "copy",
        "permute_batch", "warp_affine", "jitter", "water", "sphere", "crop", "slice",
        "gaussian_blur", "erase", "grid_mask", "jpeg_compression_distortion", "laplacian",
        "equalize", "color_space_conversion", "clahe", "paste", "median_blur", "filter",
        "gaussian", "salt_and_pepper", "shot", "remap", "warp_perspective", "pad",
        "random_resized_crop", "resize_crop_mirror", "fast_resize_crop_mirror", "normalize",
        "tensor_resize", "multi_paste", "dilate", "erode", "debayer"}


def mark(node, layout: str):
    """Record on ``node``'s operator the layout of the output an operator of ours made
    (``.gpu()`` copies of the node share the operator)."""
    marks = node.source.__dict__.setdefault("_regaug_layouts", {})
    marks[node.index] = layout
    return node


def of(node) -> str | None:
    """The layout the graph gives ``node`` when the pipeline is defined, or None."""
    source = getattr(node, "source", None)
    marked = getattr(source, "_regaug_layouts", {}).get(getattr(node, "index", None))
    if marked is not None:
        return marked
    layout = described(node, LAYOUT)
    if layout is not None and str(layout):
        return str(layout)
    name, args, inputs = maker(node)
    if name == "transpose" and inputs and not args.get("output_layout"):
        inner = of(inputs[0])
        if args.get("transpose_layout") is False:  # the data moves, the label stays
            return inner
        perm = args.get("perm")
        return "".join(inner[p] for p in perm) if inner and perm else None
    if name in KEEP and inputs:
        return of(inputs[0])
    return None


DTYPE, LAYOUT = 3, 4  # fields of DALI's OutputDesc


def described(node, field: int):
    """A field of DALI's own output metadata for ``node`` (None when DALI cannot tell when
    the pipeline is defined)."""
    spec = getattr(getattr(node, "source", None), "_spec", None)
    try:
        spec.InferOutputMetadata()
        return spec.OutputDesc(node.index)[field]
    except Exception:  # noqa: BLE001 - not an operator DALI can describe here
        return None


def maker(node):
    """``(name, arguments, inputs)`` of the DALI operator that made ``node``."""
    source = getattr(node, "source", None)
    args = getattr(getattr(source, "_op", None), "_init_args", None) or {}
    return args.get("_display_name"), args, getattr(source, "_inputs", None) or []


def resolve(node, layout=None, name: str = "images") -> str:
    """The layout to build an operator for: the graph's, checked against an explicit
    ``layout``; an error naming both when they differ, or asking for ``layout=`` when the
    graph cannot tell."""
    from nvidia.dali.data_node import DataNode

    if not isinstance(node, DataNode):
        raise TypeError(f"{name} must be a DataNode (an output of a DALI operator), got "
                        f"{type(node).__name__}")
    found = of(node)
    if layout is None:
        if found is None:
            raise ValueError(f"{name}: the pipeline cannot tell the layout of this input "
                             f"(made by {_maker(node)}); pass layout='HWC' or layout='CHW'")
        return validate.layout(found)
    layout = validate.layout(layout)
    if found is not None and found != layout:
        raise ValueError(f"layout={layout!r} disagrees with the layout of {name}, "
                         f"{found!r}: leave layout out (it is read from the input) or "
                         f"give {found!r}")
    return layout


def check(expected: str, batch, name: str = "images") -> None:
    """At run time: the layout bytes of a batch (``get_property(key="layout")``) are
    ``expected``, or empty (the user then declared ``expected``)."""
    if not len(batch):
        return
    actual = bytes(np.asarray(batch[0], np.uint8)).decode()
    if actual and actual != expected:
        raise ValueError(f"{name} arrive with layout {actual!r}, but the operator was built "
                         f"for {expected!r}: pass layout={actual!r} (or leave layout out)")


def _maker(node) -> str:
    args = getattr(getattr(getattr(node, "source", None), "_op", None), "_init_args", None)
    return f"fn.{args['_display_name']}" if args and "_display_name" in args else "an input"
