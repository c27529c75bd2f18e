"""``dali-regaug preview``: the same images under each operator, as one PNG grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dali_regaug import fn as rfn
from dali_regaug import registry

# Row label -> operator call; each row sees the same cropped, flipped, normalized images.
DEFAULT_OPS = {
    "grid_mask": lambda x, s: rfn.grid_mask(x, d=(48, 112), layout="CHW", seed=s,
                                            return_params=True, name="grid_mask"),
    "grid_mask rotate=45 fill=region": lambda x, s: rfn.grid_mask(
        x, d=(48, 112), rotate=45, fill="region", layout="CHW", seed=s + 1,
        return_params=True, name="grid_mask_rotated"),
    "random_erasing count=2": lambda x, s: rfn.random_erasing(
        x, prob=1.0, count=2, layout="CHW", seed=s + 2, return_params=True,
        name="random_erasing"),
    "cutout size=80": lambda x, s: rfn.cutout(x, size=80, layout="CHW", seed=s + 3,
                                              return_params=True, name="cutout"),
}


def run(files, *, out: Path, size=224, seed=0, device="auto", show_params=False):
    """Write the grid to ``out`` and return the path; print parameters if asked."""
    from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD, image_pipeline

    def augment(images, ids):
        outs = [images]
        for make in DEFAULT_OPS.values():
            outs.extend(make(images, seed))
        return tuple(outs)

    pipe = image_pipeline(files, batch_size=len(files), size=size, device=device, seed=seed,
                          shuffle=False, augment=augment)
    res = pipe.run()
    ops = registry.ops(pipe)
    rows = [_to_uint8(res[0], IMAGENET_MEAN, IMAGENET_STD)]
    for k, (label, name) in enumerate(zip(DEFAULT_OPS, ops)):
        rows.append(_to_uint8(res[2 + 2 * k], IMAGENET_MEAN, IMAGENET_STD))
        if show_params:
            print(f"{label}:")
            for i, rec in enumerate(rfn.decode_params(ops[name], res[3 + 2 * k])):
                print(f"  image {i}: {_fmt(rec)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    _grid(rows, ["input"] + list(DEFAULT_OPS)).save(out)
    return out


def _to_uint8(tl, mean, std):
    if hasattr(tl, "as_cpu"):
        tl = tl.as_cpu()
    x = np.stack([np.asarray(tl.at(i)) for i in range(len(tl))])  # N, C, H, W
    x = x.transpose(0, 2, 3, 1) * np.float32(std) + np.float32(mean)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _fmt(rec) -> str:
    names = [n for n in rec.dtype.names if n != "pad"]
    return ", ".join(f"{n}={rec[n].tolist()}" for n in names)


def _grid(rows, labels, pad=6, label_w=230):
    from PIL import Image, ImageDraw

    n, h, w = rows[0].shape[0], rows[0].shape[1], rows[0].shape[2]
    canvas = Image.new("RGB", (label_w + n * (w + pad), len(rows) * (h + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        y = r * (h + pad)
        draw.text((8, y + h // 2 - 6), label, fill="black")
        for i in range(n):
            canvas.paste(Image.fromarray(imgs[i]), (label_w + i * (w + pad), y))
    return canvas
