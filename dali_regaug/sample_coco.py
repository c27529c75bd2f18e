"""``dali-regaug make-sample-data --coco``: a small COCO-format detection dataset with no
download.

Constant-colour shapes (one colour per category) are drawn on crops of the same packaged
photographs as the classification sample, without overlapping each other. Each shape is a
polygon; the annotation holds that polygon as its segmentation and the bounding box of the
pixels actually drawn, so boxes and masks are exact. Layout, as COCO's::

    root/train2017/*.jpg   root/annotations/instances_train2017.json
    root/val2017/*.jpg     root/annotations/instances_val2017.json
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dali_regaug import sample_data
from dali_regaug.coco import annotations, images

# id -> (name, RGB colour); saturated and far apart, so JPEG keeps them recognizable.
CATEGORIES = {1: ("square", (220, 30, 30)), 2: ("disc", (30, 200, 60)),
              3: ("triangle", (40, 60, 230)), 4: ("bar", (235, 215, 40))}


def default_root() -> Path:
    """``coco/`` under the classification sample's root."""
    return sample_data.default_root() / "coco"


def make(root=None, *, train=64, val=16, max_objects=6, seed=0, progress=print) -> Path:
    """Write the dataset under ``root`` (default :func:`default_root`) and return ``root``;
    an existing one made with the same settings is kept.

    Parameters
    ----------
    root : str or Path, optional
    train, val : int
        Images per split.
    max_objects : int
        Objects per image are drawn from 1 to this.
    seed : int
    progress : callable or None
        Called with a message per split.
    """
    from PIL import Image

    root = Path(root) if root is not None else default_root()
    settings = {"train": train, "val": val, "max_objects": max_objects, "seed": seed,
                "version": 1}
    marker = root / "sample-coco.json"
    if marker.is_file() and json.loads(marker.read_text()) == settings:
        return root
    photos = []
    for path in sample_data.sources().values():
        with Image.open(path) as im:
            photos.append(im.convert("RGB"))
    rs = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("val", val)):
        folder = images(root, split)
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"images": [], "annotations": [],
               "categories": [{"id": k, "name": n, "supercategory": "shape"}
                              for k, (n, _) in CATEGORIES.items()]}
        for i in range(count):
            image = sample_data.view(photos[rs.integers(len(photos))], rs)
            name = f"{i + 1:012d}.jpg"
            anns = _draw_objects(image, rs, max_objects)
            image.save(folder / name, quality=95)
            doc["images"].append({"id": i + 1, "file_name": name, "width": image.width,
                                  "height": image.height})
            for ann in anns:
                doc["annotations"].append({**ann, "id": len(doc["annotations"]) + 1,
                                           "image_id": i + 1, "iscrowd": 0})
        annotations(root, split).write_text(json.dumps(doc))
        if progress:
            progress(f"  {split}: {count} images, {len(doc['annotations'])} objects")
    marker.write_text(json.dumps(settings))
    return root


def _draw_objects(image, rs, max_objects):
    """Draw 1 to ``max_objects`` non-overlapping shapes on ``image``; their annotations."""
    from PIL import Image, ImageDraw

    taken = np.zeros((image.height, image.width), bool)
    anns = []
    for _ in range(int(rs.integers(1, max_objects + 1))):
        for _attempt in range(20):
            cat = int(rs.integers(1, len(CATEGORIES) + 1))
            poly = _polygon(cat, rs, image.width, image.height)
            mask = Image.new("L", image.size)
            ImageDraw.Draw(mask).polygon([tuple(p) for p in poly], fill=255)
            m = np.asarray(mask) > 0
            if m.any() and not (m & _grow(taken)).any():
                break
        else:
            continue
        taken |= m
        image.paste(CATEGORIES[cat][1], mask=mask)
        x0, y0, x1, y1 = mask.getbbox()
        anns.append({"category_id": cat, "bbox": [x0, y0, x1 - x0, y1 - y0],
                     "area": int(m.sum()), "segmentation": [poly.ravel().tolist()]})
    return anns


def _polygon(cat, rs, width, height):
    """Vertices (x, y) of a shape of category ``cat``, 8% to 30% of the short side."""
    side = rs.uniform(0.08, 0.3) * min(width, height)
    w, h = (side, side) if cat in (1, 2, 3) else (side * rs.uniform(2, 3), side * 0.4)
    w, h = min(w, width - 2), min(h, height - 2)
    cx, cy = rs.uniform(w / 2 + 1, width - w / 2 - 1), rs.uniform(h / 2 + 1, height - h / 2 - 1)
    if cat == 2:  # a disc, as a 32-gon
        t = np.arange(32) * 2 * math.pi / 32
        pts = np.stack([cx + w / 2 * np.cos(t), cy + h / 2 * np.sin(t)], 1)
    elif cat == 3:  # apex up; the box centre is inside
        pts = np.array([[cx, cy - h / 2], [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])
    else:
        pts = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                        [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])
    return np.round(pts, 1)


def _grow(m, by=3):
    """``m`` dilated by ``by`` pixels (a margin between objects)."""
    out = m.copy()
    for axis in (0, 1):
        for shift in range(1, by + 1):
            out |= np.roll(m, shift, axis) | np.roll(m, -shift, axis)
    return out
