"""Random Erasing and Cutout: two ways to place boxes, one kernel (``kernels/erase.cu``).

Random Erasing: Zhong, Zheng, Kang, Li, Yang, "Random Erasing Data Augmentation",
AAAI 2020 (arXiv:1708.04896), Algorithm 1. With probability ``p`` an image is erased; a
region of area ``S_e = U(s_l, s_h) * S`` and aspect ``r_e`` gets ``H_e = sqrt(S_e r_e)``,
``W_e = sqrt(S_e / r_e)`` and a corner ``(x_e, y_e)`` uniform over the image, and the draw is
repeated until the region lies inside the image.

Readings chosen:

* Aspect ratio: Algorithm 1 writes ``r_e = Rand(r_1, r_2)``; read literally (uniform), tall
  regions would be about 4.7x as likely as wide ones for (0.3, 1/0.3). We draw
  ``log r_e`` uniformly, so ``r`` and ``1/r`` are equally likely, as timm and torchvision do.
* The paper's loop redraws until the region fits, so every chosen image is erased. We draw
  ``ATTEMPTS`` = 10 at once (timm's bound, where timm stops), then, for the regions that
  none fits, ``ATTEMPTS_MORE`` = 64 more at a time, up to ``MAX_ATTEMPTS`` = 202 per
  region; a region is skipped only if all of them miss (at the defaults on 224x224 about
  0.71 of draws miss, so 0.71**202, about 1e-30). A region is never clipped, and the first
  draw that fits is taken, so accepted regions keep exactly the paper's conditional
  distribution: ``(S_e, r_e)`` weighted by the chance that a uniform corner fits, the
  corner then uniform among the fitting ones.
* Sizes are rounded to whole pixels (``round(H_e)``, ``round(W_e)``), the corner is
  ``floor(U * W)``, and "fits" means ``x_e + W_e <= W`` on those integers; empty regions
  do not fit.
* ``count`` regions (an int, or a ``(min, max)`` range drawn per image, as timm's
  ``max_count``) are drawn independently; the paper uses one.

Cutout: DeVries, Taylor, "Improved Regularization of Convolutional Neural Networks with
Cutout", arXiv:1708.04552 (2017). A square of side ``size`` whose centre is uniform over the
image's pixels, clipped at the border. Reading chosen: the box is
``[c - size // 2, c - size // 2 + size)``, exactly ``size`` wide before clipping; the
official code's ``[c - size // 2, c + size // 2)`` is one pixel short for odd sizes.
"""

from __future__ import annotations

import math

import numpy as np

from dali_regaug import fill as fill_mod
from dali_regaug import rng
from dali_regaug.declare import REQUIRED, Arg, Operator
from dali_regaug.ops import rects
from dali_regaug.ops.base import FILL_MEANING, MaskOp, prob_arg

ATTEMPTS = 10  # draws per region in the first round (and everywhere Algorithm 1 is bounded)
ATTEMPTS_MORE = 64  # draws per later round, for the regions still without a fit
MAX_ATTEMPTS = ATTEMPTS + 3 * ATTEMPTS_MORE


def _positive_max(name, value, out):
    if out[1] <= 0:
        raise ValueError(f"{name}={value!r}: the maximum must be > 0")


AREA = Arg("area", (0.02, 0.4), "region area as a fraction of the image's, drawn uniformly",
           "interval", 0.0, 1.0, check=_positive_max, per_sample=True)
ASPECT = Arg("aspect", (0.3, 1 / 0.3), "aspect ratio (height / width), drawn log-uniformly",
             "interval", 1e-3, 1e3, per_sample=True)


class Erase(MaskOp):
    """Rectangle erasing (``kernels/erase.cu``): records of up to ``max_boxes`` boxes filled
    with ``fill``. On its own it only applies records sampled elsewhere (segmentation
    masks get an ignore label this way)."""

    kernel = "erase"
    ARGS = (Arg("max_boxes", 1, "boxes per record", "int", 1, 4097),
            Arg("fill", 0.0, FILL_MEANING, "fill"))

    def setup(self):
        self.params_dtype = rects.params_dtype(self.max_boxes)

    def mask(self, p, h, w):
        return rects.drop_mask(p, h, w, self.fill.mode == fill_mod.REGION)

    def dropped(self, p, h, w):
        return rects.dropped(p, h, w, self.fill.mode == fill_mod.REGION)

    def explain(self, params, hw):
        return [f"erased {boxes}" if boxes else "unchanged"
                for boxes in map(rects.explain, params)]

    def _records(self, keys, apply, boxes, count):
        p = np.zeros(len(keys), self.params_dtype)
        p["key"] = keys
        p["count"] = np.where(apply, count, 0)
        p["boxes"] = boxes
        return p


class RandomErasing(Erase):
    """Random Erasing; see the module docstring. With a :class:`~dali_regaug.ops.placement.NearPeak`
    placement, CAM-based Random Erasing (:mod:`dali_regaug.ops.cam_erasing`)."""

    ARGS = (prob_arg(0.5, "chance to erase a sample, or an epoch schedule"), AREA, ASPECT,
            Arg("count", 1, "regions per erased image, or a (min, max) range drawn per image; "
                "each is redrawn until it fits (at most 202 draws)", "int_interval", 1, 64),
            Arg("fill", "random", FILL_MEANING + "; 'random' is the paper's Rand(0, 255)",
                "fill"))

    def setup(self):
        self.params_dtype = rects.params_dtype(self.count[1])

    def uniforms(self, keys) -> np.ndarray:
        """Each sample's draws: the coin, the region count, then per region and attempt the
        area, log-aspect, corner y and corner x."""
        return rng.uniform(keys, 2 + 4 * self.count[1] * ATTEMPTS)

    def sample(self, hw, keys, prob, view=None):
        n, m = len(keys), self.count[1]
        u = self.uniforms(keys)
        apply = u[:, 0] < prob
        count = self.count[0] + np.floor(u[:, 1] * (self.count[1] - self.count[0] + 1))
        boxes = self._place(hw, keys, u[:, 2:].reshape(n, m, ATTEMPTS, 4), 0, view)
        done = ATTEMPTS
        while done < MAX_ATTEMPTS:  # Algorithm 1 redraws until the region fits
            missing = ~boxes.any(-1) & (np.arange(m) < count[:, None]) & apply[:, None]
            rows = np.flatnonzero(missing.any(1))
            if not len(rows):
                break
            more = rng.uniform(keys[rows], 4 * m * ATTEMPTS_MORE, offset=2 + 4 * m * done)
            new = self._place(hw[rows], keys[rows], more.reshape(len(rows), m, ATTEMPTS_MORE, 4),
                              done, None if view is None else view.rows(rows), rows)
            boxes[rows] = np.where(missing[rows][..., None], new, boxes[rows])
            done += ATTEMPTS_MORE
        return self._records(keys, apply, boxes, count)

    def _place(self, hw, keys, u, done, view, rows=None):
        """The first attempt of ``u`` (``(B, count, attempts, 4)``) that fits each region,
        ``done`` attempts having come before; zero boxes where none fits. Corners are
        uniform over the image (Algorithm 1's ``x_e, y_e``) unless the placement moves them.
        ``rows``: the samples of the batch these are, for per-sample arguments."""
        h, w = hw[:, 0, None, None], hw[:, 1, None, None]
        eh, ew = sizes(u, h, w, _rows_of(self.area, rows), _rows_of(self.aspect, rows))
        y0, x0 = self.placement.corners(np.floor(u[..., 2] * h), np.floor(u[..., 3] * w), view,
                                        eh, ew, keys, done)
        return first_fit(y0, x0, eh, ew, h, w)


def place(u, h, w, area, aspect) -> np.ndarray:
    """Algorithm 1 in a region of ``h x w`` pixels: the first of ``ATTEMPTS`` draws that
    fits, as int32 ``(y0, x0, y1, x1)`` from the region's corner; all zero if none fits.

    Parameters
    ----------
    u : ndarray
        ``(..., ATTEMPTS, 4)`` uniforms: area, log-aspect, corner y, corner x.
    h, w : ndarray
        Region sizes, broadcastable to ``u.shape[:-2]``.
    area, aspect : (float, float)
        Area as a fraction of the region's, and aspect ratio (height / width).
    """
    h, w = np.asarray(h)[..., None], np.asarray(w)[..., None]
    eh, ew = sizes(u, h, w, area, aspect)
    return first_fit(np.floor(u[..., 2] * h), np.floor(u[..., 3] * w), eh, ew, h, w)


def sizes(u, h, w, area, aspect):
    """Height and width of each attempt (``round(H_e)``, ``round(W_e)``) from its area and
    log-aspect uniforms ``u[..., 0:2]``, in a region of ``h x w`` (broadcasting); ``area``
    is one ``(min, max)``, or ``(B, 2)`` one per sample (``u``'s first axis)."""
    per_sample = lambda a: a.reshape(-1, *([1] * (u.ndim - 2)))  # noqa: E731  (B,) -> u's
    area = np.asarray(area, np.float64)
    lo, hi = area[..., 0], area[..., 1]
    if area.ndim == 2:
        lo, hi = per_sample(lo), per_sample(hi)
    s_e = (lo + (hi - lo) * u[..., 0]) * h * w
    if np.ndim(aspect) == 2:
        lo, hi = per_sample(np.log(aspect[:, 0])), per_sample(np.log(aspect[:, 1]))
    else:  # math.log: the same bits as ever for one range
        lo, hi = math.log(aspect[0]), math.log(aspect[1])
    ratio = np.exp(lo + (hi - lo) * u[..., 1])
    return np.round(np.sqrt(s_e * ratio)), np.round(np.sqrt(s_e / ratio))


def first_fit(y0, x0, eh, ew, h, w) -> np.ndarray:
    """int32 ``(..., 4)``: the first attempt (last axis) whose box lies inside ``h x w``
    and is not empty; all zero where none does."""
    fits = (eh >= 1) & (ew >= 1) & (y0 >= 0) & (x0 >= 0) & (y0 + eh <= h) & (x0 + ew <= w)
    first = np.argmax(fits, axis=-1)[..., None]
    pick = lambda a: np.take_along_axis(np.broadcast_to(a, fits.shape), first, -1)[..., 0]  # noqa: E731
    y0, x0 = pick(y0), pick(x0)
    boxes = np.stack([y0, x0, y0 + pick(eh), x0 + pick(ew)], -1) * pick(fits)[..., None]
    return boxes.astype(np.int32)


def _rows_of(value, rows):
    """A per-sample range argument's values at ``rows`` (all without), or the constant."""
    if rows is None or np.ndim(value) != 2:
        return value
    return np.asarray(value)[rows]


class Cutout(Erase):
    """Cutout; see the module docstring. With a :class:`~dali_regaug.ops.placement.BelowQuantile`
    placement, KeepAugment's selective cut (:mod:`dali_regaug.ops.keep_cutout`)."""

    ARGS = (Arg("size", REQUIRED, "side of the square in pixels; its centre is uniform over "
                "the image, clipped at the border", "int", 1, 2**20, per_sample=True),
            Arg("count", 1, "squares per image", "int", 1, 64), prob_arg(1.0),
            Arg("fill", 0.0, FILL_MEANING + "; 0 is the dataset mean after normalization",
                "fill"))

    def setup(self):
        self.params_dtype = rects.params_dtype(self.count)

    def sample(self, hw, keys, prob, view=None):
        m, n = self.count, len(keys)
        u = rng.uniform(keys, 1 + 2 * m)
        cy, cx = np.floor(u[:, 1::2] * hw[:, 0, None]), np.floor(u[:, 2::2] * hw[:, 1, None])
        side = np.broadcast_to(np.asarray(self.size, np.int64).reshape(-1, 1), (n, 1))
        cy, cx = self.placement.centres(cy, cx, view, np.repeat(side, 2, 1), keys)
        boxes = rects.centred(cy, cx, side, side, hw[:, 0, None], hw[:, 1, None])
        return self._records(keys, u[:, 0] < prob, boxes, m)


OPERATORS = (
    Operator("random_erasing", RandomErasing, "Random Erasing (Zhong et al. 2017)",
             aliases=("erasing", "random_erase")),
    Operator("cutout", Cutout, "Cutout (DeVries & Taylor 2017)"),
)
