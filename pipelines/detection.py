"""COCO detection pipeline with box-aware region operators.

read (``readers.coco``: ltrb boxes as fractions, labels, optionally pixel masks or instance
polygons) -> box-aware random crop (``random_bbox_crop``, SSD's thresholds), decoded with ROI
decoding -> flip (``bb_flip`` for boxes, ``coord_flip`` for polygons) -> resize to a square
-> normalize -> the operators of an ``augment`` spec (``bbox_erasing``, ``cutmix``, or mask
operators that leave boxes alone, as GridMask's COCO setup does) -> boxes and labels padded
to ``max_boxes`` with a count per sample, polygons and vertices padded too, so that batches
are dense tensors for ``DALIGenericIterator`` (:func:`dali_regaug.torch.unpad` splits them
again, :func:`dali_regaug.torch.instance_masks` rasterizes the polygons).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from nvidia.dali import fn, math, pipeline_def, types

from dali_regaug import coco, spec, validate
from dali_regaug.ops import polygons as polygon_ops
from dali_regaug.pipelines import coco_boxes
from dali_regaug.pipelines.built import Built
from dali_regaug.pipelines.classification import _normalize, _pipe_args, resolve_device, \
    resolve_shard

CROP = dict(aspect_ratio=[0.5, 2.0], thresholds=[0.0, 0.1, 0.3, 0.5, 0.7, 0.9],
            scaling=[0.3, 1.0], bbox_layout="xyXY", allow_no_crop=True, num_attempts=50)


def coco_files(root, split="train") -> tuple[Path, Path]:
    """``(image folder, annotations file)`` of a COCO-layout ``root``
    (``<split>2017/`` and ``annotations/instances_<split>2017.json``), checked."""
    folder, ann = coco.images(root, split), coco.annotations(root, split)
    for path in (folder, ann):
        if not path.exists():
            raise FileNotFoundError(f"COCO {split} data: {path} does not exist (expected "
                                    f"<root>/{split}2017/ and "
                                    f"<root>/annotations/instances_{split}2017.json)")
    return folder, ann


def detection_pipeline(root, *, batch_size, split="train", size=320, augment=None,
                       masks=None, max_boxes=100, max_polygons=None, max_vertices=None,
                       layout="CHW", device="auto", seed=None, shard_id=None, num_shards=None,
                       crop=True, mirror=True, num_threads=None, prefetch_queue_depth=2,
                       box_tolerance=1.0, strict_boxes=False):
    """A built COCO pipeline (:class:`~dali_regaug.pipelines.built.Built`).

    Outputs, named in ``output_names``: ``images`` (float32, normalized), ``boxes``
    (float32 ``(max_boxes, 4)`` ltrb fractions, zero rows after ``count``), ``labels``
    (int32 ``(max_boxes,)``, -1 after ``count``), ``count`` (int32), ``image_id``, then
    ``masks`` (uint8 ``(size, size)`` category per pixel) with ``masks="pixel"``, or
    ``polygons`` (int32 ``(max_polygons, 3)`` rows ``[instance, first vertex, end vertex)``,
    -1 rows after the last) and ``vertices`` (float32 ``(max_vertices, 2)`` ``(x, y)``
    fractions) with ``masks="polygon"``; instance ``j`` is box ``j``'s, clipped to the image.

    Parameters
    ----------
    root : str or Path
        COCO layout (see :func:`coco_files`).
    batch_size : int
    split : {"train", "val"}
        ``"val"`` reads in order without crop, flip or shuffling.
    size : int
        Side of the square output.
    augment : str, dict or list, optional
        A spec (:func:`dali_regaug.spec.parse`) of ``bbox_erasing`` and mask operators.
    masks : {None, "pixel", "polygon"}
        Also read COCO's polygons, as pixel masks (``True`` means this) carried through
        crop, flip, resize, erasing (``bbox_erasing(mask_fill=...)``) and CutMix, or as
        instance polygons selected, moved and clipped with their boxes.
    max_boxes : int
        Boxes kept per image (the first ones, after crop and erasing).
    max_polygons, max_vertices : int, optional
        Padded sizes of the polygon outputs; default ``2 * max_boxes`` and
        ``64 * max_boxes``. An image with more raises an error naming the argument.
    layout : {"CHW", "HWC"}
    device : {"auto", "cpu", "gpu"}
    seed : int, optional
    shard_id, num_shards : int, optional
        Default: from ``torch.distributed`` or ``RANK``/``WORLD_SIZE``.
    crop, mirror : bool
        Box-aware random crop and random horizontal flip (training only).
    num_threads : int, optional
    prefetch_queue_depth : int
    box_tolerance : float
        Pixels a box may reach past its image: such boxes are clipped (``box_report``
        counts them); boxes further out are skipped with a warning naming the image and
        annotation ids (:mod:`dali_regaug.pipelines.coco_boxes`).
    strict_boxes : bool
        Raise on such a box instead of skipping it.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: expected 'train' or 'val'")
    folder, ann = coco_files(root, split)
    ann, box_report = coco_boxes.checked(ann, tolerance=box_tolerance, strict=strict_boxes)
    validate.number("batch_size", batch_size, 1, None, integer=True)
    max_boxes = validate.number("max_boxes", max_boxes, 1, 10000, integer=True)
    layout = validate.layout(layout)
    masks = "pixel" if masks is True else (masks or None)
    if masks not in (None, "pixel", "polygon"):
        raise ValueError(f"masks={masks!r}: expected None, 'pixel' or 'polygon'")
    max_polygons = validate.number("max_polygons", max_polygons or 2 * max_boxes, 1, None,
                                   integer=True)
    max_vertices = validate.number("max_vertices", max_vertices or 64 * max_boxes, 3, None,
                                   integer=True)
    shard, shards = resolve_shard(shard_id, num_shards)
    dev = resolve_device(device)
    train = split == "train"
    names = ["images", "boxes", "labels", "count", "image_id"] + {
        None: [], "pixel": ["masks"], "polygon": ["polygons", "vertices"]}[masks]

    @pipeline_def(**_pipe_args(batch_size, num_threads, dev, seed, shard,
                               prefetch_queue_depth))
    def pipe():
        jpegs, boxes, labels, *extra, ids = fn.readers.coco(
            file_root=str(folder), annotations_file=str(ann), ltrb=True, ratio=True,
            pixelwise_masks=masks == "pixel", polygon_masks=masks == "polygon",
            image_ids=True, shard_id=shard, num_shards=shards, shuffle_after_epoch=train,
            pad_last_batch=True, name="reader")
        pixel_masks = extra if masks == "pixel" else []
        polygons, vertices = extra if masks == "polygon" else (None, None)
        decoder = dict(device="mixed" if dev == "gpu" else "cpu", output_type=types.RGB)
        if train and crop:
            anchor, extent, boxes, labels, *kept = fn.random_bbox_crop(
                boxes, labels, output_bbox_indices=polygons is not None, **CROP)
            images = fn.decoders.image_slice(jpegs, anchor, extent, **decoder)
            pixel_masks = [fn.slice(m, anchor, extent, axis_names="WH") for m in pixel_masks]
            if polygons is not None:
                polygons, vertices = fn.segmentation.select_masks(*kept, polygons, vertices,
                                                                  reindex_masks=True)
                vertices = (vertices - anchor) / extent
        else:
            images = fn.decoders.image(jpegs, **decoder)
        pixel_masks = [fn.cast(m, dtype=types.UINT8) for m in pixel_masks]
        flip = {}
        if train and mirror:
            flip = {"mirror": fn.random.coin_flip()}
            boxes = fn.bb_flip(boxes, ltrb=True, horizontal=flip["mirror"])
            pixel_masks = [fn.flip(m, horizontal=flip["mirror"]) for m in pixel_masks]
            if vertices is not None:
                vertices = fn.coord_flip(vertices, layout="xy", flip_x=flip["mirror"])
        images = _normalize(fn.resize(images, size=[size, size]), layout, **flip)
        pixel_masks = [fn.resize(m, size=[size, size], interp_type=types.INTERP_NN,
                                 antialias=False) for m in pixel_masks]
        if dev == "gpu":
            pixel_masks = [m.gpu() for m in pixel_masks]
        images, targets = spec.build(
            augment, images, dict(boxes=boxes, labels=labels, masks=(pixel_masks or [None])[0],
                                  polygons=polygons, vertices=vertices), layout=layout)
        boxes, labels = targets["boxes"], targets["labels"]
        extra = [targets[k] for k in names[5:]]
        count = math.min(labels.shape(dtype=types.INT32)[0:1], max_boxes)
        boxes = _pad(boxes, max_boxes, 0.0)
        labels = _pad(labels, max_boxes, -1)
        if masks == "pixel":
            extra = [fn.reshape(extra[0], layout="HW", shape=[size, size])]
        elif masks == "polygon":
            extra = fn.python_function(
                *extra, count, function=partial(polygon_ops.pad_batch,
                                                max_polygons=max_polygons,
                                                max_vertices=max_vertices),
                batch_processing=True, num_outputs=2)
        return (images, boxes, labels, count, ids, *extra)

    p = pipe()
    p.build()
    size_ = p.epoch_size("reader")
    if shards > size_:
        raise ValueError(f"num_shards={shards} is larger than the dataset ({size_} images): "
                         f"some shards would be empty")
    return Built(p, names, (shard, shards), -(-size_ // shards), box_report=box_report)


def _pad(rows, max_rows, fill):
    """The first ``max_rows`` rows, padded with ``fill`` to exactly ``max_rows``."""
    rows = fn.slice(rows, start=[0], shape=[max_rows], axes=[0],
                    out_of_bounds_policy="trim_to_shape")
    return fn.pad(rows, axes=[0], shape=[max_rows], fill_value=fill)
