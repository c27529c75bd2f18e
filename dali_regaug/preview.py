"""``dali-regaug preview``: the same images under each augmentation spec, as one PNG grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dali_regaug import fn as rfn
from dali_regaug import registry, spec

# One row per spec; each row sees the same cropped, flipped, normalized images.
DEFAULT_SPECS = (
    "grid_mask(d=48-112)",
    "grid_mask(d=48-112,rotate=45,fill=region)",
    "random_erasing(p=1,count=2)",
    "cutout(size=80)",
    "cutmix(alpha=1)",
    "mixup(alpha=0.4)",
)


def run(files, *, out: Path, specs=DEFAULT_SPECS, size=224, seed=0, device="auto",
        show_params=False):
    """Write the grid to ``out`` and return the path; print parameters if asked.

    Parameters
    ----------
    files : list of str
        Images, one column each (at least 2, for the mixing rows' partners).
    out : Path
    specs : sequence of str
        Augmentation specs (:mod:`dali_regaug.spec`), one row each.
    size, seed : int
    device : {"auto", "cpu", "gpu"}
    show_params : bool
    """
    from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD, train_pipeline

    names = []  # per row, the registry names of its operators

    def augment(images, labels, ids):
        outs, params = [images], []
        for r, text in enumerate(specs):
            x, _, row = spec.build(text, images, labels, layout="CHW", seed=seed + 10 * r,
                                   return_params=True, prefix=f"row{r}_")
            outs.append(x)
            names.append([name for name, _ in row])
            params += [p for _, p in row]
        return tuple(outs) + tuple(params)

    pipe = train_pipeline(files, batch_size=len(files), size=size, device=device, seed=seed,
                          shuffle=False, augment=augment)
    res = pipe.run()
    first = len(pipe.output_names)  # the augment's extra outputs start here
    rows = [_to_uint8(res[0], IMAGENET_MEAN, IMAGENET_STD)]
    rows += [_to_uint8(res[first + r], IMAGENET_MEAN, IMAGENET_STD) for r in range(len(specs))]
    if show_params:
        k = first + len(specs)
        for text, row in zip(specs, names):
            for name in row:
                print(f"{text} [{name}]:")
                for i, rec in enumerate(rfn.decode_params(registry.ops(pipe)[name], res[k])):
                    print(f"  image {i}: {_fmt(rec)}")
                k += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    _grid(rows, ["input"] + [spec.describe(s) for s in specs]).save(out)
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


def _grid(rows, labels, pad=6, label_w=300):
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
