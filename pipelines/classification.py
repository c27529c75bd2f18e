"""Decode, random-resized-crop, flip and normalize, then the region operators.

The same code builds a GPU pipeline (nvJPEG through the ``mixed`` decoder) or a CPU-only
one (``device_id=None``). Region operators come last, after normalization, where GridMask
and Random Erasing apply them.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from nvidia.dali import fn, pipeline_def, types

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


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


def image_pipeline(files, *, batch_size, size=224, labels=None, device="auto", layout="CHW",
                   augment=None, num_threads=None, seed=None, shuffle=True, mirror=True,
                   shard_id=0, num_shards=1, prefetch_queue_depth=2):
    """A built pipeline returning ``(images, labels, *extra)``.

    Parameters
    ----------
    files : list of str
        Image files (JPEG, PNG, ...).
    batch_size : int
    size : int
        Output side after the random-resized crop.
    labels : list of int, optional
        One label per file; defaults to the file's index, so it doubles as a sample id.
    device : {"auto", "cpu", "gpu"}
    layout : {"CHW", "HWC"}
        Layout of the normalized float32 images.
    augment : callable, optional
        ``augment(images, labels) -> images`` or ``-> (images, *extra)``; called inside the
        pipeline definition, e.g. ``lambda x, y: dali_regaug.fn.grid_mask(x, layout="CHW")``.
    num_threads : int, optional
        Defaults to the number of CPU cores.
    seed : int, optional
    shuffle, mirror : bool
        Shuffle the reader; random horizontal flips.
    shard_id, num_shards : int
    prefetch_queue_depth : int
    """
    dev = resolve_device(device)
    labels = list(range(len(files))) if labels is None else list(labels)

    @pipeline_def(batch_size=batch_size, num_threads=num_threads or os.cpu_count(),
                  device_id=0 if dev == "gpu" else None, seed=seed,
                  prefetch_queue_depth=prefetch_queue_depth)
    def pipe():
        jpegs, ids = fn.readers.file(files=files, labels=labels, random_shuffle=shuffle,
                                     shard_id=shard_id, num_shards=num_shards, name="reader")
        images = fn.decoders.image_random_crop(jpegs, device="mixed" if dev == "gpu" else "cpu",
                                               output_type=types.RGB)
        images = fn.resize(images, size=[size, size])
        flip = fn.random.coin_flip() if mirror else 0
        images = fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout=layout,
                                          mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD),
                                          mirror=flip)
        out = augment(images, ids) if augment is not None else images
        return (out[0], ids, *out[1:]) if isinstance(out, tuple) else (out, ids)

    p = pipe()
    p.build()
    return p
