"""Small image folders for pipeline and loader tests, written as lossless PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD


def id_folder(root, n=22, classes=3, seed=0):
    """``root/c<k>/<i>.png``: image ``i`` (its sample id, files sorted as the reader sorts
    them) is the constant colour ``(i, 40 * label, 200)``, of varied size."""
    rs = np.random.default_rng(seed)
    names = [f"c{k}" for k in range(classes)]
    per = np.array_split(np.arange(n), classes)
    for k, ids in enumerate(per):
        (root / names[k]).mkdir(parents=True)
        for i in ids:
            h, w = rs.integers(40, 80, 2)
            img = np.empty((h, w, 3), np.uint8)
            img[...] = (i, 40 * k, 200)
            Image.fromarray(img).save(root / names[k] / f"{i:04d}.png")
    return root


def gradient_image(path, h, w):
    """R = 255 * x / (w - 1), G = 255 * y / (h - 1): each pixel holds its own position."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([255 * x / (w - 1), 255 * y / (h - 1), np.full((h, w), 128)], -1)
    Image.fromarray(np.rint(img).astype(np.uint8)).save(path)
    return path


def pixels(images):
    """Normalized CHW float images back to 0..255 values, ``(N, H, W, C)``."""
    x = np.asarray(images, np.float32).transpose(0, 2, 3, 1)
    return x * np.float32(IMAGENET_STD) + np.float32(IMAGENET_MEAN)


def spot_bank():
    """The bundled sample images and a SaliencyBank whose every map has one hot spot, in
    bank cells rows 2:7 and columns 9:14 (upper right); close it after use."""
    import numpy as np

    from dali_regaug.pipelines import sample_images
    from dali_regaug.saliency import SaliencyBank

    files = sample_images()
    bank = SaliencyBank(len(files), 16)
    m = np.zeros((len(files), 16, 16), np.float32)
    m[:, 2:7, 9:14] = 1
    bank.update(np.arange(len(files)), m, np.tile([0, 0, 1, 1.], (len(files), 1)),
                np.zeros(len(files)))
    return files, bank
