"""``dali-regaug preview``: the same images under each augmentation spec, as one PNG grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dali_regaug import spec

# One row per spec; each row sees the same cropped, flipped, normalized images.
DEFAULT_SPECS = (
    "grid_mask(d=48-112)",
    "grid_mask(d=48-112,rotate=45,fill=region)",
    "random_erasing(p=1,count=2)",
    "cutout(size=80)",
    "cutmix(alpha=1)",
    "mixup(alpha=0.4)",
)


# The guided operators, on maps from spectral_residual (a model-free stand-in for the
# trained model's saliency), with a row showing those maps.
SALIENCY_SPECS = (
    "keep_cutout(size=96,tau=0.6)",
    "keep_paste(size=112,tau=0.6)",
    "keep_cutmix(alpha=1,tau=0.6)",
    "cam_erasing(threshold=0.5,p=1)",
)


def run(files, *, out: Path, specs=DEFAULT_SPECS, size=224, seed=0, device="auto",
        show_params=False):
    """Write the grid to ``out`` and return the path; print parameters if asked. Guided
    specs (``keep_cutout``, ...) read :func:`spectral_bank` maps, shown in an extra row.

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
    from dali_regaug.pipelines.classification import TRAIN_EXTRAS

    names = []  # per row, the registry names of its operators
    bank = spectral_bank(files) if guided(specs) else None

    def augment(images, labels, ids, views):
        outs, params = [images], []
        for r, text in enumerate(specs):
            x, _, row = spec.build(text, images, {"labels": labels}, layout="CHW",
                                   views=dict(sample_ids=ids, crops=views[0], flips=views[1]),
                                   bank=bank, seed=seed + 10 * r, return_params=True,
                                   prefix=f"row{r}_")
            outs.append(x)
            names.append([name for name, _ in row])
            params += [p for _, p in row]
        return tuple(outs) + tuple(params)

    built = train_pipeline(files, batch_size=len(files), size=size, device=device, seed=seed,
                           shuffle=False, augment=augment)
    res = _run(built.pipe, files)
    first = built.output_names.index("extra_0")  # the augment's extra outputs start here
    rows = [_to_uint8(res[0], IMAGENET_MEAN, IMAGENET_STD)]
    rows += [_to_uint8(res[first + r], IMAGENET_MEAN, IMAGENET_STD) for r in range(len(specs))]
    if show_params:
        k = first + len(specs)
        for text, row in zip(specs, names):
            for name in row:
                print(f"{text} [{name}]:")
                op = built.ops[name]
                recs = op.records(list(_array(res[k])))
                for i, text in enumerate(op.explain(recs, np.full((len(recs), 2), size))):
                    print(f"  image {i}: {text}")
                k += 1
    labels = ["input"] + [spec.describe(s) for s in specs]
    if bank is not None:
        ids, crop, flip = (_array(res[built.output_names.index(k)]) for k in TRAIN_EXTRAS)
        maps = bank.read(ids.reshape(-1), crop, flip, (size, size))[0]
        rows.insert(1, _heat(rows[0], maps))
        labels.insert(1, "saliency (spectral residual)")
        del built, res  # the pipeline reads the bank until it is shut down
        bank.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    _grid(rows, labels).save(out)
    return out


def guided(specs) -> bool:
    """Whether any spec has a saliency-guided operator."""
    return any(c.operator.guided for text in specs for c in spec.parse(text))


def spectral_bank(files, size=16):
    """A :class:`SaliencyBank` with one map per file from :func:`spectral_residual`: a
    model-free saliency, so that the preview shows the guided operators without a
    trained model (in training the maps come from the model)."""
    from PIL import Image

    from dali_regaug.saliency import SaliencyBank

    bank = SaliencyBank(len(files), size)
    grey = np.stack([np.asarray(Image.open(f).convert("L").resize((64, 64), Image.BILINEAR),
                                np.float64) for f in files])
    bank.update(np.arange(len(files)), spectral_residual(grey),
                np.tile([0.0, 0.0, 1.0, 1.0], (len(files), 1)), np.zeros(len(files)))
    return bank


def spectral_residual(grey):
    """Saliency by the spectral residual (Hou & Zhang, "Saliency Detection: A Spectral
    Residual Approach", CVPR 2007): the log amplitude spectrum minus its 3x3 local mean,
    back to the image with the original phase, squared, then blurred.

    Parameters
    ----------
    grey : (B, h, w) float ndarray
    """
    f = np.fft.fft2(grey)
    log_amp = np.log(np.abs(f) + 1e-9)
    residual = log_amp - _box3(log_amp)
    s = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    for _ in range(3):  # three box blurs: close to a Gaussian of sigma ~1.7 px
        s = _box3(s)
    return (s / s.max((1, 2), keepdims=True)).astype(np.float32)


def _box3(a):
    """3x3 mean with wrap-around (the spectrum is periodic; the blur's edges matter
    little)."""
    return sum(np.roll(a, (dy, dx), (1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9


def _heat(images, maps):
    """``images`` tinted red by ``maps`` (each scaled to its maximum)."""
    m = maps / np.maximum(maps.max((1, 2), keepdims=True), 1e-12)
    red = np.zeros_like(images)
    red[..., 0] = 255
    mix = 0.65 * m[..., None]
    return np.clip(images * (1 - mix) + red * mix, 0, 255).astype(np.uint8)


COCO_SPECS = (
    "bbox_erasing(mode=image,p=1)",
    "bbox_erasing(mode=object,object_prob=1)",
    "bbox_erasing(p=1,object_prob=1,min_visibility=0.5,shrink=true)",
    "cutmix_detection(alpha=1,min_visibility=0.3)",
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
    from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD, coco_files, detection_pipeline

    rows = []
    for text in ("none", *specs):  # same seed: every row sees the same crops and flips
        built = detection_pipeline(root, batch_size=columns, size=size, augment=text,
                                   masks="polygon", device=device, seed=seed)
        images, boxes, labels, count, _, polygons, vertices = _run(
            built.pipe, sorted(str(p) for p in coco_files(root)[0].iterdir()))
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
            ImageDraw.Draw(im).rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)],
                                         outline="white", width=2)
        out.append(np.asarray(im))
    return np.stack(out)


def _to_uint8(tl, mean, std):
    if hasattr(tl, "as_cpu"):
        tl = tl.as_cpu()
    x = np.stack([np.asarray(tl.at(i)) for i in range(len(tl))])  # N, C, H, W
    x = x.transpose(0, 2, 3, 1) * np.float32(std) + np.float32(mean)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


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


def _run(pipe, files):
    """One batch of ``pipe``; a decoding failure names the files that do not decode."""
    from dali_regaug.pipelines.folder import naming_corrupt

    with naming_corrupt(files):
        return pipe.run()
