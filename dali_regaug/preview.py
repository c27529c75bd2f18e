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


COCO_SPECS = (
    "bbox_erasing(mode=image,p=1)",
    "bbox_erasing(mode=object,object_prob=1)",
    "bbox_erasing(p=1,object_prob=1,min_visibility=0.5,shrink=true)",
    "cutmix(alpha=1,min_visibility=0.3)",
    "grid_mask(d=32-64)",
)


def run_coco(root, *, out: Path, specs=COCO_SPECS, columns=5, size=256, seed=0,
             device="auto"):
    """Write a grid of the same COCO crops under each spec, with the boxes (white) and
    instance polygons (cyan) each row's pipeline returns drawn on its images; returns the
    path.

    Parameters
    ----------
    root : str or Path
        COCO layout (:func:`dali_regaug.pipelines.coco_files`).
    out : Path
    specs : sequence of str
        Detection specs, one row each (the first row has none).
    columns, size, seed : int
    device : {"auto", "cpu", "gpu"}
    """
    from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD, detection_pipeline

    rows = []
    for text in ("none", *specs):  # same seed: every row sees the same crops and flips
        pipe = detection_pipeline(root, batch_size=columns, size=size, augment=text,
                                  masks="polygon", device=device, seed=seed)
        images, boxes, labels, count, _, polygons, vertices = pipe.run()
        rows.append(_draw_boxes(_to_uint8(images, IMAGENET_MEAN, IMAGENET_STD),
                                _array(boxes), _array(count).reshape(-1), _array(polygons),
                                _array(vertices)))
    out.parent.mkdir(parents=True, exist_ok=True)
    _grid(rows, ["input"] + [spec.describe(s) for s in specs]).save(out)
    return out


def _array(tl):
    return (tl.as_cpu() if hasattr(tl, "as_cpu") else tl).as_array()


def _draw_boxes(images, boxes, count, polygons, vertices):
    from PIL import Image, ImageDraw

    out = []
    for image, b, k, polys, verts in zip(images, boxes, count, polygons, vertices):
        im = Image.fromarray(image)
        h, w = image.shape[:2]
        for _, first, end in polys[polys[:, 0] >= 0]:
            ImageDraw.Draw(im).polygon([tuple(v) for v in verts[first:end] * [w, h]],
                                       outline="cyan", width=1)
        for x0, y0, x1, y1 in b[:k] * [w, h, w, h]:
            ImageDraw.Draw(im).rectangle([x0, y0, x1 - 1, y1 - 1], outline="white", width=2)
        out.append(np.asarray(im))
    return np.stack(out)


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
