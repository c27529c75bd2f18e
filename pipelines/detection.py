"""COCO detection pipeline with box-aware region operators.

read (``readers.coco``: ltrb boxes as fractions, labels, optionally pixel masks) -> box-aware
random crop (``random_bbox_crop``, SSD's thresholds), decoded with ROI decoding -> flip
(``bb_flip`` for boxes) -> resize to a square -> normalize -> the operators of an
``augment`` spec (``bbox_erasing``, or mask operators that leave boxes alone, as GridMask's
COCO setup does) -> boxes and labels padded to ``max_boxes`` with a count per sample, so
that batches are dense tensors for ``DALIGenericIterator``
(:func:`dali_regaug.torch.unpad` splits them again).
"""

from __future__ import annotations

from pathlib import Path

from nvidia.dali import fn, math, pipeline_def, types

from dali_regaug import sample_coco, spec, validate
from dali_regaug.pipelines.classification import _normalize, _pipe_args, resolve_device, \
    resolve_shard

CROP = dict(aspect_ratio=[0.5, 2.0], thresholds=[0.0, 0.1, 0.3, 0.5, 0.7, 0.9],
            scaling=[0.3, 1.0], bbox_layout="xyXY", allow_no_crop=True, num_attempts=50)


def coco_files(root, split="train") -> tuple[Path, Path]:
    """``(image folder, annotations file)`` of a COCO-layout ``root``
    (``<split>2017/`` and ``annotations/instances_<split>2017.json``), checked."""
    folder, ann = sample_coco.images(root, split), sample_coco.annotations(root, split)
    for path in (folder, ann):
        if not path.exists():
            raise FileNotFoundError(f"COCO {split} data: {path} does not exist (expected "
                                    f"<root>/{split}2017/ and "
                                    f"<root>/annotations/instances_{split}2017.json)")
    return folder, ann


def detection_pipeline(root, *, batch_size, split="train", size=320, augment=None,
                       masks=False, max_boxes=100, layout="CHW", device="auto", seed=None,
                       shard_id=None, num_shards=None, crop=True, mirror=True,
                       num_threads=None, prefetch_queue_depth=2):
    """A built COCO pipeline.

    Outputs, named in ``pipe.output_names``: ``images`` (float32, normalized), ``boxes``
    (float32 ``(max_boxes, 4)`` ltrb fractions, zero rows after ``count``), ``labels``
    (int32 ``(max_boxes,)``, -1 after ``count``), ``count`` (int32), ``image_id``, then
    ``masks`` (uint8 ``(size, size)`` category per pixel) with ``masks=True``.

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
    masks : bool
        Also read COCO's polygons as pixel masks and carry them through crop, flip, resize
        and erasing (``bbox_erasing(mask_fill=...)``).
    max_boxes : int
        Boxes kept per image (the first ones, after crop and erasing).
    layout : {"CHW", "HWC"}
    device : {"auto", "cpu", "gpu"}
    seed : int, optional
    shard_id, num_shards : int, optional
        Default: from ``torch.distributed`` or ``RANK``/``WORLD_SIZE``.
    crop, mirror : bool
        Box-aware random crop and random horizontal flip (training only).
    num_threads : int, optional
    prefetch_queue_depth : int
    """
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: expected 'train' or 'val'")
    folder, ann = coco_files(root, split)
    validate.number("batch_size", batch_size, 1, None, integer=True)
    max_boxes = validate.number("max_boxes", max_boxes, 1, 10000, integer=True)
    layout = validate.layout(layout)
    shard, shards = resolve_shard(shard_id, num_shards)
    dev = resolve_device(device)
    train = split == "train"
    names = ["images", "boxes", "labels", "count", "image_id"] + (["masks"] if masks else [])

    @pipeline_def(**_pipe_args(batch_size, num_threads, dev, seed, shard,
                               prefetch_queue_depth))
    def pipe():
        jpegs, boxes, labels, *pixel_masks, ids = fn.readers.coco(
            file_root=str(folder), annotations_file=str(ann), ltrb=True, ratio=True,
            pixelwise_masks=masks, image_ids=True, shard_id=shard, num_shards=shards,
            shuffle_after_epoch=train, pad_last_batch=True, name="reader")
        decoder = dict(device="mixed" if dev == "gpu" else "cpu", output_type=types.RGB)
        if train and crop:
            anchor, extent, boxes, labels = fn.random_bbox_crop(boxes, labels, **CROP)
            images = fn.decoders.image_slice(jpegs, anchor, extent, **decoder)
            pixel_masks = [fn.slice(m, anchor, extent, axis_names="WH") for m in pixel_masks]
        else:
            images = fn.decoders.image(jpegs, **decoder)
        pixel_masks = [fn.cast(m, dtype=types.UINT8) for m in pixel_masks]
        flip = {}
        if train and mirror:
            flip = {"mirror": fn.random.coin_flip()}
            boxes = fn.bb_flip(boxes, ltrb=True, horizontal=flip["mirror"])
            pixel_masks = [fn.flip(m, horizontal=flip["mirror"]) for m in pixel_masks]
        images = _normalize(fn.resize(images, size=[size, size]), layout, **flip)
        pixel_masks = [fn.resize(m, size=[size, size], interp_type=types.INTERP_NN,
                                 antialias=False) for m in pixel_masks]
        if dev == "gpu":
            pixel_masks = [m.gpu() for m in pixel_masks]
        images, (boxes, labels, *pixel_masks) = spec.build(
            augment, images, labels, boxes=boxes, masks=pixel_masks[0] if masks else None,
            layout=layout)
        count = math.min(labels.shape(dtype=types.INT32)[0:1], max_boxes)
        boxes = _pad(boxes, max_boxes, 0.0)
        labels = _pad(labels, max_boxes, -1)
        pixel_masks = [fn.reshape(m, layout="HW", shape=[size, size]) for m in pixel_masks]
        return (images, boxes, labels, count, ids, *pixel_masks)

    p = pipe()
    p.build()
    p.output_names, p.shard = names, (shard, shards)
    size_ = p.epoch_size("reader")
    if shards > size_:
        raise ValueError(f"num_shards={shards} is larger than the dataset ({size_} images): "
                         f"some shards would be empty")
    p.shard_size = -(-size_ // shards)
    return p


def _pad(rows, max_rows, fill):
    """The first ``max_rows`` rows, padded with ``fill`` to exactly ``max_rows``."""
    rows = fn.slice(rows, start=[0], shape=[max_rows], axes=[0],
                    out_of_bounds_policy="trim_to_shape")
    return fn.pad(rows, axes=[0], shape=[max_rows], fill_value=fill)
