"""DALI operators, used inside ``@pipeline_def`` like ``nvidia.dali.fn``.

On CPU an operator is one ``python_function`` node that samples per-sample parameters from
the images' shapes (and optional ``sample_ids``) and applies them with NumPy. On GPU it is
two: a CPU node samples, and a GPU node applies them with one CUDA kernel launch per batch
on DALI's stream; the parameters travel as bytes, moved to the GPU by DALI, so the host
never waits for the device. ``return_params=True`` also returns the bytes (a CPU node);
decode them with :func:`decode_params`.

Operators are registered with the pipeline under ``name`` so that
:func:`dali_regaug.set_epoch`, :func:`dali_regaug.state_dict` and
:func:`dali_regaug.load_state_dict` reach them.
"""

from __future__ import annotations

import functools

import numpy as np
from nvidia.dali import fn as dali_fn
from nvidia.dali import types
from nvidia.dali.data_node import DataNode
from nvidia.dali.pipeline import Pipeline

from dali_regaug import layouts, registry, rng, validate
from dali_regaug.ops import polygons as polygon_ops
from dali_regaug.ops.bbox_erasing import BboxErasing
from dali_regaug.ops.cam_erasing import CamErasing
from dali_regaug.ops.cutmix_detection import CutMixDetection
from dali_regaug.ops.erasing import Cutout, RandomErasing, eraser
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.keep_cutmix import KeepCutMix
from dali_regaug.ops.keep_cutout import KeepCutout
from dali_regaug.ops.keep_paste import KeepPaste
from dali_regaug.ops.mixing import Mix

_COMMON = """
    layout : {"HWC", "CHW"}, optional
        Layout of ``images``. By default it is read from the pipeline's graph (decoders give
        HWC, ``crop_mirror_normalize`` CHW by default, ``external_source`` its ``layout``);
        give it when the graph cannot tell (an error says so). A value that disagrees with
        the input's is an error, and every batch is checked against it when it arrives.
        The output has the input's layout.
    seed : int, optional
        Same seed and same input order give the same output, bit for bit. By default the
        seed is derived from the pipeline's seed (or drawn at random if it has none).
    sample_ids : DataNode, optional
        CPU int64 id per sample; each sample's parameters then depend only on
        ``(seed, sample_id, how many times that id was seen)``.
    return_params : bool
        Also return the sampled parameter records (a CPU uint8 DataNode).
    backend : {None, "emulator"}
        ``"emulator"`` runs the CUDA kernels on the CPU emulator in CPU pipelines (testing).
    name : str, optional
        Registry name for state and epoch handling; defaults to ``<op>_<index>``.

    Returns
    -------
    DataNode, or (DataNode, DataNode) with ``return_params``.
"""


def grid_mask(images, *, r=0.6, d=(96, 224), rotate=0.0, reverse=False, unit_prob=1.0,
              prob=1.0, fill=0.0, layout=None, seed=None, sample_ids=None,
              return_params=False, backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = GridMask(r=r, d=d, rotate=rotate, reverse=reverse, unit_prob=unit_prob, prob=prob,
                  fill=fill, layout=layout, seed=_seed(seed), backend=backend)
    return _region(op, images, sample_ids, return_params, name)


def random_erasing(images, *, prob=0.5, area=(0.02, 0.4), aspect=(0.3, 1 / 0.3), count=1,
                   fill="random", layout=None, seed=None, sample_ids=None,
                   return_params=False, backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = RandomErasing(prob=prob, area=area, aspect=aspect, count=count, fill=fill,
                       layout=layout, seed=_seed(seed), backend=backend)
    return _region(op, images, sample_ids, return_params, name)


def cutout(images, *, size, count=1, prob=1.0, fill=0.0, layout=None, seed=None,
           sample_ids=None, return_params=False, backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = Cutout(size=size, count=count, prob=prob, fill=fill, layout=layout, seed=_seed(seed),
                backend=backend)
    return _region(op, images, sample_ids, return_params, name)


def keep_cutout(images, sample_ids, crops, flips, *, bank, size, tau=0.6, count=1, prob=1.0,
                fill=0.0, start_epoch=0, layout=None, seed=None, return_params=False,
                backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = KeepCutout(bank=bank, size=size, tau=tau, count=count, prob=prob, fill=fill,
                    start_epoch=start_epoch, layout=layout, seed=_seed(seed), backend=backend)
    return _region(op, images, sample_ids, return_params, name,
                   host=_views(sample_ids, crops, flips))


def keep_paste(images, sample_ids, crops, flips, *, bank, size, tau=0.6, augmented=None,
               rotate=30.0, brightness=0.4, contrast=0.4, prob=1.0, start_epoch=0,
               layout=None, seed=None, return_params=False, backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = KeepPaste(bank=bank, size=size, tau=tau, prob=prob, start_epoch=start_epoch,
                   layout=layout, seed=_seed(seed), backend=backend)
    if augmented is None:
        augmented = image_level(images, rotate=rotate, brightness=brightness,
                                contrast=contrast, layout=layout)
    layouts.resolve(augmented, layout, "augmented")
    return _region(op, images, sample_ids, return_params, name, partners=[augmented],
                   host=_views(sample_ids, crops, flips), checked={"augmented": augmented})


def keep_cutmix(images, labels, sample_ids, crops, flips, *, bank, alpha=1.0, tau=0.6,
                prob=1.0, start_epoch=0, layout=None, seed=None, return_params=False,
                backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = KeepCutMix(bank=bank, alpha=alpha, tau=tau, prob=prob, start_epoch=start_epoch,
                    layout=layout, seed=_seed(seed), backend=backend)
    return _mixed(op, images, labels, sample_ids, return_params, name,
                  host=_views(sample_ids, crops, flips))


def cam_erasing(images, sample_ids, crops, flips, *, bank, threshold=0.5, prob=0.5,
                area=(0.02, 0.4), aspect=(0.3, 1 / 0.3), count=1, fill="random",
                start_epoch=0, layout=None, seed=None, return_params=False, backend=None,
                name=None):
    layout = layouts.resolve(images, layout)
    op = CamErasing(bank=bank, threshold=threshold, prob=prob, area=area, aspect=aspect,
                    count=count, fill=fill, start_epoch=start_epoch, layout=layout,
                    seed=_seed(seed), backend=backend)
    return _region(op, images, sample_ids, return_params, name,
                   host=_views(sample_ids, crops, flips))


def image_level(images, *, rotate=30.0, brightness=0.4, contrast=0.4, layout=None):
    """An image-level transform ``A(x)`` for :func:`keep_paste`, from DALI's own operators:
    a rotation by ``U(-rotate, rotate)`` degrees (size kept, corners 0), then brightness and
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
        Read from ``images`` by default (see :func:`grid_mask`).
    """
    rotate = validate.number("rotate", rotate, 0.0, 180.0)
    brightness = validate.number("brightness", brightness, 0.0, 1.0)
    contrast = validate.number("contrast", contrast, 0.0, 1.0)
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


def bbox_erasing(images, boxes, labels, *, mode="image+object", prob=0.5, object_prob=0.5,
                 area=(0.02, 0.4), aspect=(0.3, 1 / 0.3), fill="random", min_visibility=0.0,
                 shrink=False, max_boxes=100, masks=None, mask_fill=None, polygons=None,
                 vertices=None, layout=None, seed=None, sample_ids=None, return_params=False,
                 backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = BboxErasing(mode=mode, prob=prob, object_prob=object_prob, area=area, aspect=aspect,
                     fill=fill, min_visibility=min_visibility, shrink=shrink,
                     max_boxes=max_boxes, layout=layout, seed=_seed(seed), backend=backend)
    ids = _check(op, images, sample_ids, return_params)
    _check_boxes(boxes, labels, polygons, vertices)
    images, (params, boxes, labels, kept) = _nodes(op, images, [], ids, 4,
                                                   host=[boxes, labels])
    out = (images, boxes, labels)
    if masks is not None:
        if mask_fill is not None:
            fill = validate.number("mask_fill", mask_fill, 0, 255, integer=True)
            masks = _on_masks(masks, images, op.layout, params,
                              eraser(op.max_boxes + 1, fill).apply_batch)
        out += (masks,)
    if polygons is not None:
        out += tuple(dali_fn.segmentation.select_masks(kept, polygons, vertices,
                                                       reindex_masks=True))
    registry.register(op, name)
    return out + ((params,) if return_params else ())


def mix(images, labels, *, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, prob=1.0,
        layout=None, seed=None, sample_ids=None, return_params=False, backend=None,
        name=None):
    layout = layouts.resolve(images, layout)
    op = Mix(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, switch_prob=switch_prob,
             prob=prob, layout=layout, seed=_seed(seed), backend=backend)
    return _mixed(op, images, labels, sample_ids, return_params, name)


def cutmix(images, labels, *, alpha=1.0, prob=1.0, boxes=None, masks=None, polygons=None,
           vertices=None, min_visibility=0.0, layout=None, seed=None, sample_ids=None,
           return_params=False, backend=None, name=None):
    layout = layouts.resolve(images, layout)
    if boxes is None:
        if masks is not None or polygons is not None or min_visibility:
            raise ValueError("masks, polygons and min_visibility are for the detection mode: "
                             "give boxes")
        op = Mix(mixup_alpha=0.0, cutmix_alpha=alpha, prob=prob, layout=layout,
                 seed=_seed(seed), backend=backend)
        return _mixed(op, images, labels, sample_ids, return_params, name)
    op = CutMixDetection(alpha=alpha, prob=prob, min_visibility=min_visibility, layout=layout,
                         seed=_seed(seed), backend=backend)
    return _cutmix_boxes(op, images, boxes, labels, masks, (polygons, vertices), sample_ids,
                         return_params, name)


def mixup(images, labels, *, alpha=0.2, prob=1.0, layout=None, seed=None, sample_ids=None,
          return_params=False, backend=None, name=None):
    layout = layouts.resolve(images, layout)
    op = Mix(mixup_alpha=alpha, cutmix_alpha=0.0, prob=prob, layout=layout, seed=_seed(seed),
             backend=backend)
    return _mixed(op, images, labels, sample_ids, return_params, name)


grid_mask.__doc__ = """GridMask (Chen et al. 2020); see :mod:`dali_regaug.ops.grid_mask`.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    r : float
        Kept fraction of a unit's edge, in [0, 1]; whole units keep ``1 - (1 - r)**2``.
    d : int or (int, int)
        Unit size in pixels, drawn per sample from ``[d_min, d_max]``.
    rotate : float
        Rotation drawn per sample from ``[0, rotate)`` degrees.
    reverse : bool
        Keep the squares and drop the rest.
    unit_prob : float
        Chance that each unit's square is dropped (random GridMask).
    prob : float or dali_regaug.schedule.Linear
        Chance to apply the mask to a sample, or an epoch schedule for it.
    fill : float, sequence, "random" or "region"
        What dropped pixels become (see :mod:`dali_regaug.fill`).""" + _COMMON

random_erasing.__doc__ = """Random Erasing (Zhong et al. 2017); see :mod:`dali_regaug.ops.erasing`.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    prob : float or dali_regaug.schedule.Linear
        Chance to erase a sample.
    area : (float, float)
        Erased area as a fraction of the image, drawn uniformly.
    aspect : (float, float)
        Aspect ratio (height / width), drawn log-uniformly.
    count : int or (int, int)
        Regions per erased image; each is redrawn until it fits (at most 202 draws).
    fill : float, sequence, "random" or "region"
        ``"random"`` is per-pixel noise, the paper's ``Rand(0, 255)``.""" + _COMMON

cutout.__doc__ = """Cutout (DeVries & Taylor 2017); see :mod:`dali_regaug.ops.erasing`.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    size : int
        Side of the square in pixels; its centre is uniform over the image, clipped at the
        border.
    count : int
        Squares per image.
    prob : float or dali_regaug.schedule.Linear
        Chance to apply it to a sample.
    fill : float, sequence, "random" or "region"
        Defaults to 0, the dataset mean after normalization.""" + _COMMON

_GUIDED = """
    sample_ids, crops, flips : DataNode
        CPU outputs of the training pipeline (``sample_id``, ``crop``, ``flip``): which map
        of the bank to read, and how to warp it into the view.
    bank : dali_regaug.saliency.SaliencyBank
        The maps, written by the trainer (:mod:`dali_regaug.saliency`).
    tau : float
        Quantile of the candidate regions' saliency that separates the cut-able from the
        kept, KeepAugment's adaptive threshold.
    start_epoch : int
        Unguided before this epoch; also unguided for samples with no map yet.""" + \
    _COMMON.replace("""    sample_ids : DataNode, optional
        CPU int64 id per sample; each sample's parameters then depend only on
        ``(seed, sample_id, how many times that id was seen)``.
""", "")

keep_cutout.__doc__ = """KeepAugment's selective-cut Cutout (Gong et al. 2021); see
    :mod:`dali_regaug.ops.keep_cutout`.

    The square is drawn among the candidates whose saliency is below the
    ``tau``-quantile of all candidates', so the cut misses the salient part of each view
    whenever enough candidates do.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    size : int
        Side of the square in pixels (centred on a pixel, clipped at the border).
    count : int
        Squares per image, each drawn independently.
    prob : float or dali_regaug.schedule.Linear
        Chance to cut a sample at all.
    fill : float, sequence, "random" or "region"
        Defaults to 0, the dataset mean after normalization.""" + _GUIDED

keep_paste.__doc__ = """KeepAugment's selective paste (Gong et al. 2021); see
    :mod:`dali_regaug.ops.keep_paste`.

    A square of the original image, drawn among the candidates whose saliency is above the
    ``tau``-quantile of all candidates', is pasted onto ``augmented`` (the image-level
    transform ``A(x)``), so the salient part survives the transform.

    Parameters
    ----------
    images : DataNode
        The images before ``A``: uint8, float16 or float32, on CPU or GPU.
    size : int
        Side of the pasted square in pixels.
    augmented : DataNode, optional
        ``A(images)``, same shapes and device; by default :func:`image_level` with
        ``rotate``, ``brightness`` and ``contrast``.
    rotate, brightness, contrast : float
        The default ``A`` (see :func:`image_level`).
    prob : float or dali_regaug.schedule.Linear
        Chance to paste at all (otherwise ``A(x)`` is returned whole).""" + _GUIDED.replace(
    "the cut-able from the\n        kept", "the pasted from the\n        rest")

keep_cutmix.__doc__ = """CutMix (Yun et al. 2019) whose cut avoids the base image's salient
    region (KeepAugment's selective cut); see :mod:`dali_regaug.ops.keep_cutmix`.

    Partners, outputs and the mixed loss are :func:`cutmix`'s; the box keeps CutMix's size
    and is centred among the candidates of that size whose saliency in the base image is
    below the ``tau``-quantile of all candidates'.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    labels : DataNode
        One label per sample (CPU or GPU); returned as ``labels_a``.
    alpha : float
        ``lam ~ Beta(alpha, alpha)``, then corrected to the area kept after clipping.
    prob : float or dali_regaug.schedule.Linear
        Chance to mix a sample at all (otherwise ``lam = 1``).""" + _GUIDED.replace(
    "DataNode, or (DataNode, DataNode) with ``return_params``.",
    "(images, labels_a, labels_b, lam), plus the parameter records with ``return_params``.")

cam_erasing.__doc__ = """Random Erasing placed near the object by Grad-CAM (Oh & Lee 2023);
    see :mod:`dali_regaug.ops.cam_erasing`.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    threshold : float
        The vicinity of the object: pixels whose map is at least ``threshold`` times the
        view's maximum; each region is centred on one of them. In [0, 1].
    prob, area, aspect, count, fill
        As :func:`random_erasing`.""" + _GUIDED.replace(
    """    tau : float
        Quantile of the candidate regions' saliency that separates the cut-able from the
        kept, KeepAugment's adaptive threshold.
""", "")


bbox_erasing.__doc__ = """Random Erasing for detection, IRE/ORE/I+ORE (Zhong et al. 2017);
    see :mod:`dali_regaug.ops.bbox_erasing`.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    boxes : DataNode
        CPU float ``(k, 4)`` ltrb boxes per sample, as fractions of the image
        (``readers.coco(ltrb=True, ratio=True)``, ``random_bbox_crop``).
    labels : DataNode
        CPU labels, one row per box; returned filtered like the boxes.
    mode : {"image", "object", "image+object"}
        Where regions go: the whole image (IRE), each object's box (ORE), or both.
    prob : float or dali_regaug.schedule.Linear
        Chance of the image-level region.
    object_prob : float
        Chance of a region in each box, independently.
    area : (float, float)
        Region area as a fraction of the image's (IRE) or of the box's (ORE).
    aspect : (float, float)
        Aspect ratio (height / width), drawn log-uniformly.
    fill : float, sequence, "random" or "region"
        ``"random"`` is per-pixel noise, the paper's ``Rand(0, 255)``.
    min_visibility : float
        Boxes with a smaller visible fraction (under the union of the regions) are removed
        with their labels; a box with nothing visible always is.
    shrink : bool
        Replace each kept box by the bounding box of its visible part.
    max_boxes : int
        Boxes per image that get object regions (later ones are only checked).
    masks : DataNode, optional
        uint8 ``(H, W, 1)`` segmentation masks on the images' device, returned after the
        labels.
    mask_fill : int, optional
        Value for erased mask pixels (an ignore label such as 255); ``None`` leaves masks as
        they are.
    polygons, vertices : DataNode, optional
        CPU instance masks as ``readers.coco(polygon_masks=True)`` gives them
        (:mod:`dali_regaug.ops.polygons`); the instances of removed boxes are removed and
        the rest renumbered like the boxes. Polygons are not cut by the regions (as unshrunk
        boxes).""" + _COMMON.replace(
    "DataNode, or (DataNode, DataNode) with ``return_params``.",
    "(images, boxes, labels), then masks when given, then polygons and vertices when "
    "given, then the parameter records with ``return_params``.")


_MIXED = _COMMON.replace(
    "DataNode, or (DataNode, DataNode) with ``return_params``.",
    "(images, labels_a, labels_b, lam), plus the parameter records with ``return_params``.")


def _mixing_doc(title, params):
    return f"""{title}; see :mod:`dali_regaug.ops.mixing`.

    Partners come from ``fn.batch_permutation(no_fixed_points=True)`` (so batches need at
    least 2 samples) and ``fn.permute_batch``; ``labels_b`` are the partners' labels and
    ``lam`` (float32, one per sample) the weight of the sample's own label:
    ``loss = lam * CE(y_a) + (1 - lam) * CE(y_b)``, see
    :func:`dali_regaug.torch.mixed_cross_entropy`.

    Parameters
    ----------
    images : DataNode
        uint8, float16 or float32 images, on CPU or GPU (the output follows).
    labels : DataNode
        One label per sample (CPU or GPU); returned as ``labels_a``.{params}
    prob : float or dali_regaug.schedule.Linear
        Chance to mix a sample at all (otherwise ``lam = 1``).""" + _MIXED


mix.__doc__ = _mixing_doc("CutMix or MixUp per sample, as timm's ``Mixup``", """
    mixup_alpha, cutmix_alpha : float
        Beta parameters; 0 disables that mode.
    switch_prob : float
        Chance of CutMix when both modes are enabled.""")
cutmix.__doc__ = _mixing_doc("CutMix (Yun et al. 2019)", """
    alpha : float
        ``lam ~ Beta(alpha, alpha)``, then corrected to the area kept after clipping.
    boxes : DataNode, optional
        Detection mode (:mod:`dali_regaug.ops.cutmix_detection`): CPU ltrb boxes, one row
        per label. The outputs are then ``(images, boxes, labels)``, then ``masks``, then
        ``polygons`` and ``vertices`` when given, then the parameters: no ``lam``, every
        object keeps its own label.
    masks : DataNode, optional
        uint8 HWC segmentation masks, pasted with the pixels (detection mode).
    polygons, vertices : DataNode, optional
        CPU instance masks (``readers.coco(polygon_masks=True)``, detection mode): the kept
        base instances, then the partner's pasted ones clipped to the region.
    min_visibility : float
        Detection mode: the fraction of a base box that must stay uncovered, and of a
        partner box that must lie inside the region, for the box to be kept.""")
mixup.__doc__ = _mixing_doc("MixUp (Zhang et al. 2018)", """
    alpha : float
        ``lam ~ Beta(alpha, alpha)``; 0.2 is the paper's ImageNet setting.""")


def decode_params(op_or_dtype, rows) -> np.ndarray:
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
    return np.ascontiguousarray(np.stack(list(rows))).view(dtype).reshape(-1)


def _seed(seed):
    """The operator's seed: given, or derived from the pipeline's seed as DALI ops do."""
    if seed is not None:
        return seed
    pipe = Pipeline.current()
    base = getattr(pipe, "seed", None) if pipe is not None else None
    if base is None or base < 0:
        return None
    return rng.derive_seed(base, len(registry.ops(pipe)))


def _check(op, images, sample_ids, return_params):
    """The other call arguments (``images`` is a DataNode: ``layouts.resolve`` checked it),
    and the ids as an input list."""
    if sample_ids is not None and (not isinstance(sample_ids, DataNode)
                                   or sample_ids.device != "cpu"):
        raise TypeError("sample_ids must be a CPU DataNode of one int64 per sample")
    if not isinstance(return_params, bool):
        raise TypeError(f"return_params={return_params!r}: expected True or False")
    if images.device == "gpu" and op.backend == "emulator":
        raise ValueError("backend='emulator' runs on CPU data only; images are on the GPU")
    return [sample_ids] if sample_ids is not None else []


def _nodes(op, images, partners, ids, sampled, host=(), checked=None):
    """The operator's DALI nodes; returns the images and ``sampled`` CPU outputs of the
    sampler, the parameter bytes first. On CPU one node samples and applies; on GPU the
    CPU node samples, DALI moves the bytes, and the kernel runs on DALI's stream.
    ``partners`` go to the applying node, ``host`` (CPU inputs such as boxes) to the
    sampling one. The sampling node also gets the layouts of ``images`` and of the other
    image inputs named in ``checked`` and refuses a batch whose layout is not
    ``op.layout``; the output carries ``op.layout``."""
    named = {"images": images, **(checked or {})}
    lays = [dali_fn.get_property(x, key="layout", device="cpu") for x in named.values()]
    if images.device == "cpu":
        out, *side = dali_fn.python_function(
            images, *partners, *host, *ids, *lays,
            function=_checked(op.run_batch, op.layout, list(named)), batch_processing=True,
            num_outputs=1 + sampled, output_layouts=[op.layout] + [""] * sampled)
        return layouts.mark(out, op.layout), side
    side = dali_fn.python_function(images.shape(dtype=types.INT64), *host, *ids, *lays,
                                   function=_checked(op.sample_batch, op.layout, list(named)),
                                   batch_processing=True, num_outputs=sampled)
    side = list(side) if sampled > 1 else [side]
    out = dali_fn.python_function(images, *partners, side[0].gpu(), function=op.apply_batch,
                                  batch_processing=True, device="gpu", output_layouts=op.layout)
    return layouts.mark(out, op.layout), side


def _checked(function, layout, names):
    """``function`` of all but the last ``len(names)`` inputs, which are the layouts of the
    named image inputs, checked to be ``layout`` first."""
    def body(*inputs):
        for name, batch in zip(names, inputs[len(inputs) - len(names):]):
            layouts.check(layout, batch, name)
        return function(*inputs[:len(inputs) - len(names)])

    return body


def _on_masks(masks, images, layout, params, function, partners=()):
    """uint8 HWC masks after ``function`` (an operator's ``apply_batch``) applied the
    parameter bytes ``params`` (drawn for ``images``, in ``layout``) to them, on the masks'
    device. Masks in another layout, or of another size than their image, are refused (a
    CPU node checks them beside the parameter bytes it passes on)."""
    layouts.resolve(masks, "HWC", "masks")
    checks = [masks.shape(dtype=types.INT64), images.shape(dtype=types.INT64),
              dali_fn.get_property(masks, key="layout", device="cpu")]  # layouts go last
    params = dali_fn.python_function(
        params, *checks, batch_processing=True,
        function=_checked(functools.partial(_same_size, layout), "HWC", ["masks"]))
    out = dali_fn.python_function(masks, *partners, params.gpu() if masks.device == "gpu"
                                  else params, function=function, batch_processing=True,
                                  device=masks.device, output_layouts="HWC")
    return layouts.mark(out, "HWC")


def _same_size(layout, params, mask_shapes, image_shapes):
    """``params``, once every mask is checked to have its image's height and width."""
    masks_hw = validate.image_shapes(mask_shapes, "HWC", "masks")
    images_hw = validate.image_shapes(image_shapes, layout)
    for i in np.flatnonzero((masks_hw != images_hw).any(1))[:1]:
        raise ValueError(f"masks: sample {i} is {tuple(masks_hw[i].tolist())} but its image is "
                         f"{tuple(images_hw[i].tolist())} (height, width): masks must be the "
                         f"size of their images")
    return params


def _region(op, images, sample_ids, return_params, name, partners=(), host=(), checked=None):
    ids = _check(op, images, sample_ids, return_params)
    out, (params,) = _nodes(op, images, list(partners), ids, 1, host=host, checked=checked)
    registry.register(op, name)
    return (out, params) if return_params else out


def _views(sample_ids, crops, flips):
    """The host inputs of a saliency-guided operator: the views' crops and flips (checked,
    with the ids that say which map of the bank to read)."""
    if sample_ids is None:
        raise TypeError("sample_ids is required: it says which map of the bank to read")
    for arg, node in (("crops", crops), ("flips", flips)):
        if not isinstance(node, DataNode) or node.device != "cpu":
            raise TypeError(f"{arg} must be a CPU DataNode (the training pipeline's "
                            f"{arg[:-1]!r} output)")
    return [crops, flips]


def _permutation(op):
    return dali_fn.batch_permutation(no_fixed_points=True,
                                     seed=rng.derive_seed(op.keys.seed, 1) & 0x7FFFFFFF)


def _partners(images, perm):
    """On CPU the partner indices: the op reads partners from the batch itself. The GPU op
    cannot read host indices without a sync, so it gets a permuted device copy."""
    return perm if images.device == "cpu" else dali_fn.permute_batch(images, indices=perm)


def _check_boxes(boxes, labels, polygons=None, vertices=None):
    for arg, node in (("boxes", boxes), ("labels", labels)):
        if not isinstance(node, DataNode) or node.device != "cpu":
            raise TypeError(f"{arg} must be a CPU DataNode (one row per object)")
    if (polygons is None) != (vertices is None):
        raise ValueError("polygons and vertices go together: give both or neither")
    for arg, node in (("polygons", polygons), ("vertices", vertices)):
        if node is not None and (not isinstance(node, DataNode) or node.device != "cpu"):
            raise TypeError(f"{arg} must be a CPU DataNode, as readers.coco(polygon_masks=True) "
                            f"gives")


def _cutmix_boxes(op, images, boxes, labels, masks, instances, sample_ids, return_params,
                  name):
    ids = _check(op, images, sample_ids, return_params)
    _check_boxes(boxes, labels, *instances)
    perm = _permutation(op)
    # the sampler needs the partner indices for the partner's boxes, on CPU as on GPU
    partners = [] if images.device == "cpu" else [_partners(images, perm)]
    images, (params, boxes, labels, kept, pasted, regions) = _nodes(
        op, images, partners, ids, 6, host=[perm, boxes, labels])
    out = (images, boxes, labels)
    if masks is not None:  # pasted with the pixels, by an instance with its own buffer
        paste = CutMixDetection(layout="HWC", seed=0).apply_batch
        out += (_on_masks(masks, images, op.layout, params, paste, [_partners(masks, perm)]),)
    if instances[0] is not None:
        own = dali_fn.segmentation.select_masks(kept, *instances, reindex_masks=True)
        theirs = dali_fn.segmentation.select_masks(
            pasted, *(dali_fn.permute_batch(x, indices=perm) for x in instances),
            reindex_masks=True)
        out += tuple(dali_fn.python_function(*own, kept, *theirs, regions,
                                             function=polygon_ops.paste_batch,
                                             batch_processing=True, num_outputs=2))
    registry.register(op, name)
    return out + ((params,) if return_params else ())


def _mixed(op, images, labels, sample_ids, return_params, name, host=()):
    ids = _check(op, images, sample_ids, return_params)
    if not isinstance(labels, DataNode):
        raise TypeError(f"labels must be a DataNode, got {type(labels).__name__}")
    perm = _permutation(op)
    out, (params, lam) = _nodes(op, images, [_partners(images, perm)], ids, 2, host=host)
    registry.register(op, name)
    labels_b = dali_fn.permute_batch(labels, indices=perm)
    return (out, labels, labels_b, lam) + ((params,) if return_params else ())
