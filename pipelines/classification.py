"""ImageNet-style training and validation pipelines with region operators.

Training: read (sharded, shuffled) -> random-area/aspect crop decoded with ROI decoding ->
resize -> flip + normalize -> the region operators of an ``augment`` spec. Validation:
resize the shorter side to ``size / 0.875`` (256 for 224) -> centre crop -> normalize.
The same code builds a GPU pipeline (nvJPEG through the ``mixed`` decoder) or a CPU-only
one (``device_id=None``).

Each training sample also carries ``sample_id`` (its index in the file list), its crop
window ``(y0, x0, y1, x1)`` as fractions of the decoded image, and its flip flag, so that
anything computed on the augmented view can be mapped back to the original image.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import numpy as np
from nvidia.dali import fn, pipeline_def, types

from dali_regaug import spec, validate
from dali_regaug.pipelines.built import Built
from dali_regaug.pipelines.folder import Dataset, scan

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
TRAIN_EXTRAS = ("sample_id", "crop", "flip")


def sample_images() -> list[str]:
    """Paths of the photographs bundled with the package."""
    data = Path(str(importlib.resources.files("dali_regaug") / "data"))
    return sorted(str(p) for p in data.glob("*.jpg"))


def resolve_device(device: str = "auto") -> str:
    """``"gpu"`` or ``"cpu"``; ``"auto"`` picks the GPU when DALI sees a CUDA device."""
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device={device!r}: expected 'auto', 'cpu' or 'gpu'")
    if device != "auto":
        return device
    from nvidia.dali import backend

    try:
        return "gpu" if backend.GetCUDADeviceCount() > 0 else "cpu"
    except RuntimeError:
        return "cpu"


def resolve_shard(shard_id=None, num_shards=None) -> tuple[int, int]:
    """``(shard_id, num_shards)``: as given, else this process's rank and world size from
    ``torch.distributed`` (when initialized) or the ``RANK``/``WORLD_SIZE`` variables that
    ``torchrun`` sets, else ``(0, 1)``."""
    if shard_id is None or num_shards is None:
        rank, world = 0, 1
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                rank, world = dist.get_rank(), dist.get_world_size()
        except ImportError:
            pass
        if world == 1 and "WORLD_SIZE" in os.environ:
            rank, world = int(os.environ.get("RANK", 0)), int(os.environ["WORLD_SIZE"])
        shard_id = rank if shard_id is None else shard_id
        num_shards = world if num_shards is None else num_shards
    num_shards = validate.number("num_shards", num_shards, 1, None, integer=True)
    shard_id = validate.number("shard_id", shard_id, 0, num_shards - 1, integer=True)
    return shard_id, num_shards


def load_dataset(data, *, skip_corrupt=False, classes=None) -> Dataset:
    """A :class:`Dataset` from a folder (labelled by ``classes`` when given, see
    :func:`~dali_regaug.pipelines.folder.scan`), a list of files (labels = their index) or
    a :class:`Dataset`."""
    if isinstance(data, Dataset):
        if classes is not None and list(data.classes) != list(classes):
            raise ValueError(f"the dataset's classes ({len(data.classes)}) are not the "
                             f"given class index ({len(classes)})")
        return data
    if isinstance(data, (str, os.PathLike)):
        return scan(data, skip_corrupt=skip_corrupt, classes=classes)
    files = [str(f) for f in data]
    if not files:
        raise ValueError("data: the list of files is empty")
    return Dataset(files, list(range(len(files))), [])


def train_pipeline(data, *, batch_size, size=224, augment=None, layout="CHW", device="auto",
                   seed=None, shard_id=None, num_shards=None, shuffle=True, mirror=True,
                   area=(0.08, 1.0), aspect=(3 / 4, 4 / 3), num_threads=None,
                   prefetch_queue_depth=2, skip_corrupt=False, checkpoint=None, bank=None):
    """A built training pipeline (:class:`~dali_regaug.pipelines.built.Built`: DALI's
    pipeline and its metadata).

    Outputs, named in ``output_names``: ``images`` (float32, normalized), ``labels``
    (int64), then ``labels_b`` and ``lam`` when ``augment`` mixes, then ``sample_id``
    (int64), ``crop`` (float32 ``(y0, x0, y1, x1)`` fractions of the decoded image) and
    ``flip`` (int32, 1 when mirrored), then any extra outputs of a callable ``augment`` (``extra_0``, ...), or
    with a ``bank`` ``visible`` (uint8 ``(size, size)``, 0 where the operators erased the
    view or pasted another image into it; :mod:`dali_regaug.saliency.visible`).

    Parameters
    ----------
    data : str, Path, list of str or Dataset
        A ``root/<class>/<image>`` folder, or image files (labelled by their index).
    batch_size : int
    size : int
        Side of the square output.
    augment : str, dict, list or callable, optional
        A spec for :func:`dali_regaug.spec.parse` (e.g. ``"gridmask(p=0.8)+cutmix()"``), or
        ``augment(images, labels, sample_ids)`` returning images or ``(images, *extra)``;
        a callable with a ``views`` parameter also gets ``(crop, flip)``, for guided
        operators.
    layout : {"CHW", "HWC"}
    device : {"auto", "cpu", "gpu"}
    seed : int, optional
        Seeds the reading order (the same on every shard, 0 when not given) and, offset by
        the shard, the augmentations.
    shard_id, num_shards : int, optional
        Default: from ``torch.distributed`` or ``RANK``/``WORLD_SIZE`` (:func:`resolve_shard`).
    shuffle, mirror : bool
        Reshuffle the whole dataset every epoch; random horizontal flips.
    area, aspect : (float, float)
        Random-resized-crop ranges: area fraction and aspect ratio (width / height).
    num_threads : int, optional
        Defaults to the number of CPU cores.
    prefetch_queue_depth : int
    skip_corrupt : bool
        Leave out files that do not decode (see :func:`dali_regaug.pipelines.folder.scan`).
    checkpoint : str, optional
        A DALI checkpoint to resume from (``Loader.state_dict`` keeps it).
    bank : dali_regaug.saliency.SaliencyBank, optional
        Saliency maps for the guided operators of ``augment`` (``keep_cutout``, ...), one
        per sample of the whole dataset.
    """
    validate.number("size", size, 1, None, integer=True)
    dataset, shard, shards, dev = _setup(data, batch_size, seed, shard_id, num_shards,
                                         skip_corrupt, device, drop=True)
    if bank is not None and bank.n < len(dataset):
        raise ValueError(f"bank holds {bank.n} maps for a dataset of {len(dataset)} images: "
                         f"give it one per sample (SaliencyBank({len(dataset)}, ...))")
    layout = validate.layout(layout)
    area = validate.interval("area", area, 1e-6, 1.0)
    aspect = validate.interval("aspect", aspect, 1e-3, 1e3)
    configs = None if callable(augment) else spec.parse(augment)
    names = ["images", "labels"]  # then the spec's other targets, filled in below

    @pipeline_def(**_pipe_args(batch_size, num_threads, dev, seed, shard,
                               prefetch_queue_depth))
    def pipe():
        jpegs, ids, labels = _read(dataset, seed, shard, shards, shuffle)
        shape = fn.peek_image_shape(jpegs)
        anchor, extent = fn.random_crop_generator(shape, random_area=list(area),
                                                  random_aspect_ratio=list(aspect))
        images = fn.decoders.image_slice(jpegs, anchor, extent, axes=[0, 1],
                                         device="mixed" if dev == "gpu" else "cpu",
                                         output_type=types.RGB)
        images = fn.resize(images, size=[size, size])
        flip = fn.random.coin_flip() if mirror else fn.constant(idata=0, dtype=types.INT32)
        images = _normalize(images, layout, mirror=flip)
        hw = fn.cast(shape[0:2], dtype=types.FLOAT)
        crop = fn.cat(fn.cast(anchor, dtype=types.FLOAT) / hw,
                      fn.cast(anchor + extent, dtype=types.FLOAT) / hw)
        extra = {}
        if callable(augment):
            views = {"views": (crop, flip)} if _takes_views(augment) else {}
            out = augment(images, labels, ids, **views)
            images, *more = out if isinstance(out, tuple) else (out,)
            targets = {"labels": labels}
            extra = {f"extra_{i}": x for i, x in enumerate(more)}
        else:
            images, targets, params = spec.build(
                configs, images, {"labels": labels}, layout=layout, bank=bank,
                views=dict(sample_ids=ids, crops=crop, flips=flip), return_params=True)
            if bank is not None:
                extra = {"visible": _visible(params, size)}
        names[1:] = [*targets, *TRAIN_EXTRAS, *extra]
        return (images, *targets.values(), ids, crop, flip, *extra.values())

    what = spec.describe(configs) if configs is not None else \
        f"callable {getattr(augment, '__qualname__', type(augment).__name__)}"
    stream = dict(batch_size=batch_size, augment=what, size=size, layout=layout, seed=seed,
                  shuffle=shuffle, mirror=mirror, area=list(area), aspect=list(aspect))
    return _finish(pipe, checkpoint, dataset, names, shard, shards, stream)


def val_pipeline(data, *, batch_size, size=224, layout="CHW", device="auto", shard_id=None,
                 num_shards=None, num_threads=None, prefetch_queue_depth=2,
                 skip_corrupt=False):
    """A built validation pipeline: outputs ``images``, ``labels`` and ``sample_id``; every
    sample of the shard once per epoch, in order (the last batch may be partial).

    Parameters are those of :func:`train_pipeline`.
    """
    validate.number("size", size, 1, None, integer=True)
    dataset, shard, shards, dev = _setup(data, batch_size, 0, shard_id, num_shards,
                                         skip_corrupt, device, drop=False)
    layout = validate.layout(layout)

    @pipeline_def(**_pipe_args(batch_size, num_threads, dev, 0, shard, prefetch_queue_depth))
    def pipe():
        jpegs, ids, labels = _read(dataset, 0, shard, shards, shuffle=False)
        images = fn.decoders.image(jpegs, device="mixed" if dev == "gpu" else "cpu",
                                   output_type=types.RGB)
        images = fn.resize(images, resize_shorter=round(size / 0.875))
        images = _normalize(images, layout, crop=(size, size))
        return images, labels, ids

    return _finish(pipe, None, dataset, ["images", "labels", "sample_id"], shard, shards,
                   dict(batch_size=batch_size, size=size, layout=layout))


def _setup(data, batch_size, seed, shard_id, num_shards, skip_corrupt, device, drop):
    validate.number("batch_size", batch_size, 1, None, integer=True)
    validate.seed(seed)
    dataset = load_dataset(data, skip_corrupt=skip_corrupt)
    shard, shards = resolve_shard(shard_id, num_shards)
    if shards > len(dataset):
        raise ValueError(f"num_shards={shards} is larger than the dataset "
                         f"({len(dataset)} images): some shards would be empty")
    per_shard = _shard_size(len(dataset), shards)
    if drop and batch_size > per_shard:
        raise ValueError(f"batch_size={batch_size} is larger than a shard ({per_shard} of "
                         f"{len(dataset)} images over {shards} shards): no full batch to train on")
    return dataset, shard, shards, resolve_device(device)


def _pipe_args(batch_size, num_threads, dev, seed, shard, depth):
    return dict(batch_size=batch_size, num_threads=num_threads or os.cpu_count(),
                device_id=int(os.environ.get("LOCAL_RANK", 0)) if dev == "gpu" else None,
                prefetch_queue_depth=depth, exec_dynamic=True,  # outputs reach torch uncopied
                seed=None if seed is None else seed + shard, enable_checkpointing=True)


def _read(dataset, seed, shard, shards, shuffle):
    """Encoded images, their ``sample_id`` and their labels (both int64).

    The reader shuffles the whole file list after every epoch (the same order on every
    shard); the list is first permuted by ``seed``, as DALI's epoch shuffle ignores it.
    Every shard is padded to ``shard_size`` samples (see :func:`_finish`)."""
    order = np.arange(len(dataset))
    if shuffle:
        order = np.random.default_rng(seed or 0).permutation(len(dataset))
    jpegs, ids = fn.readers.file(files=[dataset.files[i] for i in order],
                                 labels=order.tolist(), shuffle_after_epoch=shuffle,
                                 shard_id=shard, num_shards=shards, pad_last_batch=True,
                                 name="reader")
    ids = fn.cast(ids, dtype=types.INT64)
    table = np.asarray(dataset.labels, np.int64)
    labels = fn.python_function(ids, function=lambda i: list(table[np.concatenate(i)][:, None]),
                                batch_processing=True)
    return jpegs, ids, labels


def _takes_views(augment):
    import inspect

    try:
        return "views" in inspect.signature(augment).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _visible(params, size):
    """The ``visible`` output: which pixels the operators (``(name, params)`` pairs from
    ``spec.build``) left to the sample's own image."""
    from nvidia.dali.pipeline import Pipeline

    from dali_regaug import registry
    from dali_regaug.saliency.visible import Visible

    table = registry.ops(Pipeline.current())
    if not params:
        return fn.cast(fn.constant(idata=1, shape=[size, size]), dtype=types.UINT8)
    return fn.python_function(*(p for _, p in params), batch_processing=True,
                              function=Visible([table[name] for name, _ in params],
                                               (size, size)))


def _normalize(images, layout, **kw):
    return fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout=layout,
                                    mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), **kw)


def _finish(pipe, checkpoint, dataset, names, shard, shards, stream) -> Built:
    """Build the pipeline, with what a loader needs beside it: output names, the dataset,
    the shard and its size (the reader pads every shard to the largest), and ``stream``,
    what its output depends on (checked on resume)."""
    p = pipe(checkpoint=checkpoint)
    p.build()
    return Built(p, list(names), (shard, shards), _shard_size(len(dataset), shards),
                 dict(stream, rank=shard, world_size=shards, files=dataset.fingerprint()),
                 dataset)


def _shard_size(n, shards):
    return -(-n // shards)
