"""``dali-regaug make-sample-data``: a small ImageNet-layout dataset with no download.

Each class is one real photograph shipped inside an installed package (scikit-image's sample
data, or the four bundled with this package when scikit-image is absent). Its images are
random crops of it, resized to typical ImageNet sizes, flipped, brightness-jittered and saved
as JPEG at varied quality: ``root/train/<class>/*.JPEG`` and ``root/val/<class>/*.JPEG``.
A network can learn to tell the photographs apart from crops, which is what a smoke
training run needs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np

# scikit-image sample photographs used as classes (files in skimage/data).
SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png",
                  "grass.png", "hubble_deep_field.jpg", "motorcycle_left.png", "retina.jpg",
                  "rocket.jpg")
# (width, height) of typical ImageNet images.
SIZES = ((500, 375), (375, 500), (500, 333), (333, 500), (500, 500), (400, 300), (640, 480))


def default_root() -> Path:
    """``$DALI_REGAUG_DATA``, else ``~/.cache/dali-regaug/sample-imagenet``."""
    if os.environ.get("DALI_REGAUG_DATA"):
        return Path(os.environ["DALI_REGAUG_DATA"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "dali-regaug" / "sample-imagenet"


def sources() -> dict:
    """``{class name: photo path}``: scikit-image's photos if installed, else the bundled ones."""
    found = importlib.util.find_spec("skimage")
    if found is not None and found.submodule_search_locations:
        data = Path(list(found.submodule_search_locations)[0]) / "data"
        photos = {Path(p).stem.split("_")[0]: data / p for p in SKIMAGE_PHOTOS
                  if (data / p).is_file()}
        if len(photos) >= 4:
            return photos
    from dali_regaug.pipelines import sample_images

    return {Path(p).stem: Path(p) for p in sample_images()}


def make(root=None, *, train_per_class=32, val_per_class=8, seed=0, progress=print) -> Path:
    """Write the dataset under ``root`` (default :func:`default_root`) and return ``root``;
    an existing complete one made with the same settings is kept, one made with other
    settings is replaced whole (it is built aside, then swapped in), and ``train``/``val``
    folders that this function did not make are never touched: that is an error.

    Parameters
    ----------
    root : str or Path, optional
    train_per_class, val_per_class : int
    seed : int
    progress : callable or None
        Called with a message every class.
    """
    from PIL import Image

    root = Path(root) if root is not None else default_root()
    photos = sources()
    settings = {"classes": sorted(photos), "train": train_per_class, "val": val_per_class,
                "seed": seed, "version": 1}
    marker = root / "sample-data.json"
    if marker.is_file() and json.loads(marker.read_text()) == settings:
        return root
    splits, building = [root / "train", root / "val"], root / ".building"
    ours = marker.is_file() or building.exists()  # a set of ours, or a swap a kill cut short
    if not ours and any(p.exists() for p in splits):
        raise FileExistsError(f"{root} has train/val folders that make-sample-data did not "
                              f"make (no {marker.name}); choose another folder")
    shutil.rmtree(building, ignore_errors=True)  # what a killed run left
    rs = np.random.default_rng(seed)
    for k, (name, path) in enumerate(sorted(photos.items())):
        with Image.open(path) as im:
            photo = im.convert("RGB")
        for split, count in (("train", train_per_class), ("val", val_per_class)):
            folder = building / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                view(photo, rs).save(folder / f"{name}_{split}_{i:04d}.JPEG",
                                      quality=int(rs.integers(75, 96)))
        if progress:
            progress(f"  [{k + 1}/{len(photos)}] {name}: {train_per_class} train + "
                     f"{val_per_class} val images")
    marker.unlink(missing_ok=True)  # from here the old set is being replaced; .building
    for split in splits:              # stays until the swap is done, marking it as ours
        shutil.rmtree(split, ignore_errors=True)
        (building / split.name).rename(split)
    building.rmdir()
    marker.write_text(json.dumps(settings))
    return root


def view(photo, rs):
    """A random crop (25-100% of the area, the target's aspect), resized to a typical
    ImageNet size, maybe mirrored, brightness scaled by 0.8-1.2."""
    from PIL import Image, ImageEnhance

    w, h = SIZES[rs.integers(len(SIZES))]
    area = rs.uniform(0.25, 1.0) * photo.width * photo.height
    cw = min(photo.width, int(round(np.sqrt(area * w / h))))
    ch = min(photo.height, int(round(cw * h / w)))
    x0 = int(rs.integers(0, photo.width - cw + 1))
    y0 = int(rs.integers(0, photo.height - ch + 1))
    view = photo.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BILINEAR)
    if rs.random() < 0.5:
        view = view.transpose(Image.FLIP_LEFT_RIGHT)
    return ImageEnhance.Brightness(view).enhance(rs.uniform(0.8, 1.2))
