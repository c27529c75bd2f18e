"""The one function that turns an operator's declaration into DALI nodes.

An operator is two nodes: a CPU ``python_function`` samples from the images' shapes (and
the host inputs), and a node applies the records. On GPU that is a ``python_function`` with
one CUDA kernel launch per batch on DALI's stream; the records travel as bytes, moved to the
GPU by DALI, so the host never waits for the device. On CPU it is the kernel's numba twin
in DALI's ``numba_function`` (:mod:`dali_regaug.cpu_node`), when the graph tells the
images' dtype; otherwise one ``python_function`` samples and applies. Inputs
and outputs are matched by the names the declaration gives them, never by position.

Conventions of ``nvidia.dali.fn`` followed here: the layout comes from the input, the
output keeps it; ``device=`` defaults to the images' device; arguments declared per sample
also take a DataNode (one value per sample); the seed derives from the pipeline's.
"""

from __future__ import annotations

import functools

import numpy as np
from nvidia.dali import fn as dali_fn
from nvidia.dali import types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import Pipeline

from dali_regaug import batch as batch_mod
from dali_regaug import cpu_node, dtypes, layouts, registry, rng, validate
from dali_regaug.declare import COMMON, IMAGE_LEVEL, REQUIRED
from dali_regaug.ops import polygons as polygon_ops


def call(decl, args: tuple, kwargs: dict):
    """Apply the operator ``decl`` (a :class:`dali_regaug.declare.Operator`) inside a
    pipeline definition: ``args`` and ``kwargs`` as its ``dali_regaug.fn`` function takes
    them. Returns the images, or the images and the declared outputs, in declared order
    (then the record bytes with ``return_params``)."""
    outs = list(outputs(decl, args, kwargs).values())
    return outs[0] if len(outs) == 1 else tuple(outs)


def outputs(decl, args: tuple, kwargs: dict) -> dict:
    """:func:`call`'s nodes by name: ``images``, each declared output produced, and
    ``params`` (the record bytes) with ``return_params``."""
    try:
        bound = decl.signature().bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{decl.name}: {err} (its inputs and arguments: help(dali_regaug.fn."
                        f"{decl.name}) or dali-regaug ops {decl.name})") from None
    bound.apply_defaults()
    values = dict(bound.arguments)
    images = values.pop("images")
    common = {a.name: a.validate(values.pop(a.name)) for a in COMMON}
    ports = {p.name: values.pop(p.name) for p in decl.all_inputs}
    images = _on_device(decl.name, images, common["device"])
    layout = layouts.resolve(images, common["layout"])
    per_sample = {k: v for k, v in values.items() if isinstance(v, DataNode)}
    for k, node in per_sample.items():
        if not decl.arg(k).per_sample:
            raise TypeError(f"{decl.name}: {k} takes no DataNode (per-sample arguments: "
                            f"{', '.join(a.name for a in decl.all_args if a.per_sample)})")
        _cpu(decl.name, k, node)
        a = decl.arg(k)  # the operator is built with a constant that every batch overrides
        values[k] = a.default if a.default is not REQUIRED else a.low
    for a in decl.all_args:
        if a.kind == "object" and a.default is REQUIRED and values[a.name] is None:
            raise TypeError(f"{decl.name} needs {a.name}: {a.meaning}")
    graph = {a.name: a.validate(values.pop(a.name)) for a in decl.graph_args}
    op = decl.build(layout=layout, seed=_seed(common["seed"]), backend=common["backend"],
                    **values)
    if images.device == "gpu" and op.backend == "emulator":
        raise ValueError(f"{decl.name}: backend='emulator' runs on CPU data only; images are "
                         f"on the GPU")
    _check_ports(decl, ports)
    outs = _nodes(decl, op, images, ports, per_sample, graph, layout)
    registry.register(op, common["name"])
    names = ["images", *(p.name for p in decl.outputs if p.public)]
    names += ["params"] if common["return_params"] else []
    return {k: outs[k] for k in names if k in outs}  # in declared order


def _on_device(name, images, device):
    if not isinstance(images, DataNode):
        raise TypeError(f"{name}: images must be a DataNode, got {type(images).__name__}")
    if device == "gpu" and images.device == "cpu":
        images = images.gpu()
    if device == "cpu" and images.device == "gpu":
        raise ValueError(f"{name}: device='cpu' with images on the GPU: DALI moves data from "
                         f"the CPU to the GPU only; leave device out or use 'gpu'")
    if images.device == "gpu":
        pipe = Pipeline.current()
        if pipe is not None and not pipe.exec_dynamic:
            raise ValueError(f"{name} on GPU images needs the pipeline's exec_dynamic=True (its "
                             f"sampler reads the GPU images' shapes on the CPU); this pipeline "
                             f"has exec_dynamic={pipe.exec_dynamic}")
    return images


def _cpu(name, arg, node):
    if not isinstance(node, DataNode) or node.device != "cpu":
        raise TypeError(f"{name}: {arg} must be a CPU DataNode, got "
                        f"{getattr(node, 'device', type(node).__name__)}")


def _check_ports(decl, ports):
    for p in decl.all_inputs:
        node = ports[p.name]
        if node is None:
            if not p.optional:
                raise TypeError(f"{decl.name} needs {p.name}: {p.meaning}")
            continue
        if p.source == "host" or p.source == "instances":
            _cpu(decl.name, p.name, node)
        elif not isinstance(node, DataNode):
            raise TypeError(f"{decl.name}: {p.name} must be a DataNode, got "
                            f"{type(node).__name__}")
    given = {p.name for p in decl.all_inputs if p.source == "instances"
             and ports[p.name] is not None}
    wanted = {p.name for p in decl.all_inputs if p.source == "instances"}
    if given and given != wanted:
        raise ValueError(f"{decl.name}: {' and '.join(sorted(wanted))} go together: give all "
                         f"or none")


def _nodes(decl, op, images, ports, per_sample, graph, layout):
    """The operator's nodes; ``{name: node}`` of the images, the record bytes (``params``)
    and every output the declaration names that was produced."""
    host = {p.name: ports[p.name] for p in decl.all_inputs
            if p.source == "host" and ports[p.name] is not None}
    checked = {"images": images}
    perm = partners = None
    if decl.partners == "batch":
        perm = _permutation(op)
        host["partners"] = perm  # the sampler may read the partners' boxes
        # The GPU apply cannot read host indices without a sync: a permuted device copy.
        partners = perm if images.device == "cpu" else dali_fn.permute_batch(images,
                                                                             indices=perm)
    elif decl.partners is not None:
        port = next(p for p in decl.all_inputs if p.name == decl.partners)
        partners = ports[port.name]
        if partners is None:
            partners = BUILDERS[port.default](images, layout=layout, **graph)
        partners = _beside(decl.name, port.name, partners, images)
        layouts.resolve(partners, layout, port.name)
        checked[port.name] = partners
    host.update(per_sample)
    sampled = [p.name for p in decl.outputs if p.source == "sampled"]
    lays = [dali_fn.get_property(x, key="layout", device="cpu") for x in checked.values()]
    # CPU: the numba kernel in DALI's threads when the graph tells the dtype (and the
    # kernels are not the emulator's), else inside the fused python_function
    dtype = dtypes.of(images) if images.device == "cpu" and op.backend is None else None
    second = None if partners is None or perm is not None else dtypes.of(partners)
    if dtype is not None and second is not None and second != dtype:
        raise TypeError(f"{decl.name}: {decl.partners} is {second} but the images are "
                        f"{dtype}: the two sources must have one dtype")
    body = _Body(decl, op, list(host), list(checked), sampled, partners is not None, dtype)
    src = [images] + ([partners] if partners is not None else [])
    if images.device == "cpu" and dtype is None:
        out, params, *side = dali_fn.python_function(
            *src, *host.values(), *lays, function=body.fused, batch_processing=True,
            num_outputs=2 + len(sampled), output_layouts=[layout] + [""] * (1 + len(sampled)),
            device="cpu")
    else:
        shapes = [x.shape(dtype=types.INT64) for x in src[:1 if perm is not None else None]]
        params, *side = _listed(dali_fn.python_function(
            *shapes, *host.values(), *lays, function=body.sample, batch_processing=True,
            num_outputs=1 + (dtype is not None) + len(sampled)))
        if dtype is not None:
            out = cpu_node.apply(images, partners, params, side.pop(0), dtype=dtype,
                                 layout=layout, batch=perm is not None)
        else:
            out = dali_fn.python_function(*src, params.gpu(), function=body.apply,
                                          batch_processing=True, device="gpu",
                                          output_layouts=layout)
    dtypes.mark(out, dtype)
    outs = {"images": layouts.mark(out, layout), "params": params, **dict(zip(sampled, side))}
    for p in decl.outputs:
        src_node = ports.get(p.of) if p.of else None
        if p.source == "input":
            outs[p.name] = src_node
        elif p.source == "permuted":
            outs[p.name] = dali_fn.permute_batch(src_node, indices=perm)
        elif p.source == "masks" and src_node is not None:
            outs[p.name] = _masks(op, _beside(decl.name, p.of, src_node, images), outs, layout,
                                  perm)
    if all(ports.get(p.of) is not None for p in decl.outputs if p.source == "instances") and \
            any(p.source == "instances" for p in decl.outputs):
        outs["polygons"], outs["vertices"] = _instances(ports, outs, perm)
    return outs


def _beside(name, arg, node, images):
    """An image-like input on the images' device: moved to the GPU with GPU images; a GPU
    input with CPU images is refused (DALI moves data from the CPU to the GPU only)."""
    if images.device == "gpu" and node.device == "cpu":
        return node.gpu()
    if images.device == "cpu" and node.device == "gpu":
        raise ValueError(f"{name}: {arg} is on the GPU but the images are on the CPU; give "
                         f"device='gpu' (or GPU images)")
    return node


def _listed(node):
    return list(node) if isinstance(node, (list, tuple)) else [node]


class _Body:
    """The python_function bodies of one operator: batches arrive in the order the nodes
    were given them and are named here, once."""

    def __init__(self, decl, op, host, checked, sampled, has_partners, dtype=None):
        self.decl, self.op, self.host, self.checked = decl, op, host, checked
        self.sampled, self.has_partners = sampled, has_partners
        self.dtype = dtype  # of the images, for the CPU kernel node's settings
        # the sampler reads the second sources' shapes (not partners taken from the batch)
        self.second_shapes = has_partners and decl.partners != "batch"
        self.per_sample = [a for a in decl.all_args if a.name in host]  # DataNode arguments

    def _named(self, batches):
        """Host batches by name, after checking the layouts (the last batches)."""
        k = len(self.checked)
        for name, lay in zip(self.checked, batches[len(batches) - k:]):
            layouts.check(self.op.layout, lay, name)
        named = dict(zip(self.host, batches[:len(batches) - k]))
        for arg in self.per_sample:
            named[arg.name] = arg.per_sample_values(named[arg.name], self.decl.name)
        return named

    def fused(self, images, *rest):
        partners = rest[0] if self.has_partners else None
        named = self._named(rest[1:] if self.has_partners else rest)
        named["shapes"] = [a.shape for a in images]
        recs, side = self.op.sample_named(named)
        out = self.op.apply_batch(images, recs, partners)
        return (out, batch_mod.rows(recs), *[side[n] for n in self.sampled])

    def sample(self, shapes, *rest):
        """The sampler from the images' shapes; before the CPU kernel node, it also checks
        that each second source has its image's shape (the kernel reads both with the
        image's) and gives the kernel's settings."""
        named = self._named(rest[1:] if self.second_shapes else rest)
        named["shapes"] = list(shapes)
        recs, side = self.op.sample_named(named)
        outs = [batch_mod.rows(recs), *[side[n] for n in self.sampled]]
        if self.dtype is not None:
            dims = np.asarray(shapes).reshape(len(shapes), -1)
            if self.has_partners:
                self._same_shapes(dims, np.asarray(rest[0]).reshape(dims.shape)
                                  if self.second_shapes else
                                  dims[batch_mod.scalars(named["partners"])])
            channels = dims[:, -1 if self.op.layout == "HWC" else 0].tolist()
            outs.insert(1, self.op.settings(channels, self.dtype))
        return tuple(outs) if len(outs) > 1 else outs[0]

    def _same_shapes(self, dims, second):
        for i in np.flatnonzero((dims != second).any(1))[:1]:
            raise ValueError(f"{self.decl.name}: sample {i} is {tuple(dims[i].tolist())} but "
                             f"its second source (partner) is {tuple(second[i].tolist())}: "
                             f"they must have the same shape")

    def apply(self, images, *rest):
        partners, params = (rest[0], rest[1]) if self.has_partners else (None, rest[0])
        return self.op.apply_batch(images, params, partners)


def _masks(op, masks, outs, layout, perm):
    """uint8 HWC masks after the operator's records (drawn for the images, in ``layout``)
    were applied to them by ``op.for_masks()`` (unchanged without one), on the masks'
    device. Masks in another layout, or of another size than their image, are refused (a
    CPU node checks them beside the record bytes it passes on)."""
    layouts.resolve(masks, "HWC", "masks")
    mop = op.for_masks()
    if mop is None:
        return masks
    checks = [masks.shape(dtype=types.INT64), outs["images"].shape(dtype=types.INT64),
              dali_fn.get_property(masks, key="layout", device="cpu")]
    params = dali_fn.python_function(outs["params"], *checks, batch_processing=True,
                                     function=functools.partial(_same_size, layout))
    partners = [] if perm is None else [dali_fn.permute_batch(masks, indices=perm)]
    gpu = masks.device == "gpu"
    body = (lambda m, q, p: mop.apply_batch(m, p, q)) if partners else \
        (lambda m, p: mop.apply_batch(m, p))
    out = dali_fn.python_function(masks, *partners, params.gpu() if gpu else params,
                                  function=body, batch_processing=True, device=masks.device,
                                  output_layouts="HWC")
    return layouts.mark(out, "HWC")


def _same_size(layout, params, mask_shapes, image_shapes, mask_layouts):
    """``params``, once the masks are checked to be HWC and of their images' size."""
    layouts.check("HWC", mask_layouts, "masks")
    masks_hw = validate.image_shapes(mask_shapes, "HWC", "masks")
    images_hw = validate.image_shapes(image_shapes, layout)
    for i in np.flatnonzero((masks_hw != images_hw).any(1))[:1]:
        raise ValueError(f"masks: sample {i} is {tuple(masks_hw[i].tolist())} but its image is "
                         f"{tuple(images_hw[i].tolist())} (height, width): masks must be the "
                         f"size of their images")
    return params


def _instances(ports, outs, perm):
    """The polygons and vertices of the kept boxes (renumbered like them), then, with
    partners, the partner's pasted instances clipped to the region."""
    polygons, vertices = ports["polygons"], ports["vertices"]
    own = dali_fn.segmentation.select_masks(outs["kept"], polygons, vertices,
                                            reindex_masks=True)
    if "pasted" not in outs:
        return tuple(own)
    theirs = dali_fn.segmentation.select_masks(
        outs["pasted"], *(dali_fn.permute_batch(x, indices=perm) for x in (polygons, vertices)),
        reindex_masks=True)
    return tuple(dali_fn.python_function(*own, outs["kept"], *theirs, outs["regions"],
                                         function=polygon_ops.paste_batch,
                                         batch_processing=True, num_outputs=2))


def _seed(seed):
    """The operator's seed: given, or derived from the pipeline's seed as DALI ops do."""
    if seed is not None:
        return seed
    pipe = Pipeline.current()
    base = getattr(pipe, "seed", None) if pipe is not None else None
    if base is None or base < 0:
        return None
    return rng.derive_seed(base, len(registry.ops(pipe)))


def _permutation(op):
    return dali_fn.batch_permutation(no_fixed_points=True,
                                     seed=rng.derive_seed(op.keys.seed, 1) & 0x7FFFFFFF)


def image_level(images, *, rotate=IMAGE_LEVEL[0].default, brightness=IMAGE_LEVEL[1].default,
                contrast=IMAGE_LEVEL[2].default, layout=None):
    """An image-level transform ``A(x)`` for ``keep_paste``, from DALI's own operators: a
    rotation by ``U(-rotate, rotate)`` degrees (size kept, corners 0), then brightness and
    contrast factors from ``U(1 - b, 1 + b)`` and ``U(1 - c, 1 + c)``, contrast around 0
    (the mean of normalized images). Any other DALI chain can be passed to ``keep_paste``
    as ``augmented`` instead.

    Parameters
    ----------
    images : DataNode
    rotate : float
        Largest angle in degrees, in [0, 180].
    brightness, contrast : float
        Largest change of each factor, in [0, 1].
    layout : {"HWC", "CHW"}, optional
        Read from ``images`` by default.
    """
    rotate, brightness, contrast = (a.validate(v) for a, v in zip(
        IMAGE_LEVEL, (rotate, brightness, contrast)))
    chw = layouts.resolve(images, layout) == "CHW"
    x = dali_fn.transpose(images, perm=[1, 2, 0]) if chw else images  # rotate takes HWC
    if rotate:
        x = dali_fn.rotate(x, angle=dali_fn.random.uniform(range=[-rotate, rotate]),
                           keep_size=True, fill_value=0.0)
    if brightness or contrast:  # a factor with no range is the constant 1
        factor = lambda r: dali_fn.random.uniform(range=[1 - r, 1 + r]) if r else 1.0  # noqa: E731
        x = dali_fn.brightness_contrast(x, brightness=factor(brightness),
                                        contrast=factor(contrast), contrast_center=0.0)
    return dali_fn.transpose(x, perm=[2, 0, 1]) if chw else x


BUILDERS = {"image_level": image_level}  # the defaults of optional image inputs
