"""Random Erasing for detection: holes in the image and inside object boxes, and the boxes
that survive them (``kernels/erase.cu`` fills the holes).

Zhong, Zheng, Kang, Li, Yang, "Random Erasing Data Augmentation", AAAI 2020
(arXiv:1708.04896), Sec. "Random Erasing for Object Detection": Image-aware Random Erasing
(IRE) places the region in the whole image, as for classification; Object-aware Random
Erasing (ORE) places one in each object's bounding box, each object separately; I+ORE does
both. Placement inside the image or a box is Algorithm 1 (:func:`dali_regaug.ops.erasing.place`),
with area and aspect relative to that region.

Readings chosen:

* The image-level region is drawn with probability ``prob`` and each object's region with
  ``object_prob``, independently (the paper applies Random Erasing to the image and to each
  object separately, each with its own chance).
* A box's region lies within the whole pixels inside the box (``ceil`` of its top-left,
  ``floor`` of its bottom-right edge); a box less than one pixel wide gets none.
* Boxes are ``ltrb`` fractions of the image (DALI's ``readers.coco(ltrb=True, ratio=True)``).
  Before sampling, boxes are clipped to the image; boxes with a NaN coordinate or no area
  left are dropped with their labels and counted in :attr:`BboxErasing.invalid_boxes`.
* Visibility is the area of a box not covered by the **union** of the holes (exact, in pixel
  units, overlapping holes counted once). A box is removed with its label when its visible
  fraction is below ``min_visibility``, or nothing of it is visible. ``shrink`` replaces a
  box by the bounding box of its visible part.
* Only the first ``max_boxes`` boxes of an image get object regions; later ones are kept and
  checked for visibility like the others.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import fill as fill_mod
from dali_regaug import rng, validate
from dali_regaug.ops import rects
from dali_regaug.ops.base import MaskOp, _rows
from dali_regaug.ops.erasing import ATTEMPTS, place

MODES = {"image": (True, False), "object": (False, True), "image+object": (True, True),
         "ire": (True, False), "ore": (False, True), "i+ore": (True, True)}
_DRAWS = 1 + 4 * ATTEMPTS  # uniforms per region: the coin, then the placement attempts


class BboxErasing(MaskOp):
    """IRE, ORE or I+ORE; see the module docstring and :func:`dali_regaug.fn.bbox_erasing`."""

    kernel = "erase"

    def __init__(self, *, mode="image+object", prob=0.5, object_prob=0.5, area=(0.02, 0.4),
                 aspect=(0.3, 1 / 0.3), fill="random", min_visibility=0.0, shrink=False,
                 max_boxes=100, layout="HWC", seed=None, backend=None):
        if str(mode).lower() not in MODES:
            raise ValueError(f"mode={mode!r}: expected 'image', 'object' or 'image+object' "
                             f"(or 'ire', 'ore', 'i+ore')")
        self.image, self.object = MODES[str(mode).lower()]
        self.object_prob = validate.number("object_prob", object_prob, 0.0, 1.0)
        self.area = validate.interval("area", area, 0.0, 1.0)
        if self.area[1] <= 0:
            raise ValueError(f"area={area!r}: the maximum must be > 0")
        self.aspect = validate.interval("aspect", aspect, 1e-3, 1e3)
        self.min_visibility = validate.number("min_visibility", min_visibility, 0.0, 1.0)
        if not isinstance(shrink, bool):
            raise TypeError(f"shrink={shrink!r}: expected True or False")
        self.shrink = shrink
        self.max_boxes = validate.number("max_boxes", max_boxes, 0, 4096, integer=True)
        super().__init__(prob=prob, fill=fill, layout=layout, seed=seed, backend=backend)
        self.params_dtype = rects.params_dtype(1 + self.max_boxes)
        self.invalid_boxes = 0  # boxes dropped as NaN or empty, since construction

    def sample(self, hw, keys, prob, boxes=None):
        """Records with the image's hole in slot 0 and box ``j``'s in slot ``1 + j``.

        ``boxes``: ``(N, K, 4)`` float ``(y0, x0, y1, x1)`` pixel boxes, NaN rows for none.
        """
        n = len(keys)
        boxes = np.full((n, 0, 4), np.nan) if boxes is None else boxes
        k = min(boxes.shape[1], self.max_boxes) if self.object else 0
        u = rng.uniform(keys, _DRAWS * (1 + k)).reshape(n, 1 + k, _DRAWS)
        holes = np.zeros((n, 1 + self.max_boxes, 4), np.int32)
        if self.image:
            holes[:, 0] = place(u[:, 0, 1:].reshape(n, ATTEMPTS, 4), hw[:, 0], hw[:, 1],
                                self.area, self.aspect) * (u[:, 0, 0] < prob)[:, None]
        if k:
            b = np.nan_to_num(boxes[:, :k])
            top, bottom = np.ceil(b[..., :2]), np.floor(b[..., 2:])
            size = np.clip(bottom - top, 0, None)
            hit = place(u[:, 1:, 1:].reshape(n, k, ATTEMPTS, 4), size[..., 0], size[..., 1],
                        self.area, self.aspect)
            on = (u[:, 1:, 0] < self.object_prob) & ~np.isnan(boxes[:, :k, 0])
            holes[:, 1:1 + k] = (hit + np.tile(top, 2).astype(np.int32)) * on[..., None]
        p = np.zeros(n, self.params_dtype)
        p["key"], p["count"], p["boxes"] = keys, 1 + k, holes
        return p

    def mask(self, p, h, w):
        return rects.drop_mask(p, h, w, self.fill.mode == fill_mod.REGION)

    def dropped(self, p, h, w):
        return rects.dropped(p, h, w, self.fill.mode == fill_mod.REGION)

    def boxes_after(self, p, hw, boxes):
        """Which boxes stay after the holes of ``p``, and their new extent.

        Parameters
        ----------
        p : structured ndarray
            Records from :meth:`sample`.
        hw : (N, 2) array
        boxes : (N, K, 4) float ndarray
            Pixel ``(y0, x0, y1, x1)``, NaN rows for none.

        Returns
        -------
        keep : (N, K) bool
        boxes : (N, K, 4) float ndarray
            Shrunk to their visible part with ``shrink``, else as given.
        """
        present = ~np.isnan(boxes[..., 0])
        visible, extent = visibility(p["boxes"], p["count"], np.nan_to_num(boxes), hw)
        keep = present & (visible > 0) & (visible >= self.min_visibility)
        return keep, (extent if self.shrink else boxes)

    # -- DALI python_function bodies ---------------------------------------------------------
    def sample_batch(self, shapes, boxes, labels, sample_ids=None):
        """CPU op: shapes, ltrb boxes and labels (and ids) in; parameter bytes, the kept
        boxes and labels, and the kept boxes' indices (for ``segmentation.select_masks``)
        out."""
        check_boxes(boxes, labels, sample_ids)
        hw = self._hw(shapes)
        px = self._pixel_boxes(boxes, hw)
        recs = self._draw_shapes(shapes, sample_ids, boxes=px)
        keep, px = self.boxes_after(recs, hw, px)
        return (_rows(recs), [r[k] for r, k in zip(ltrb(px, hw), keep)], select(labels, keep),
                indices(labels, keep))

    def run_batch(self, images, boxes, labels, sample_ids=None):
        """CPU op sampling and applying in one step: images, boxes and labels (and ids) in;
        images and :meth:`sample_batch`'s outputs out."""
        rows, *kept = self.sample_batch([a.shape for a in images], boxes, labels, sample_ids)
        return (self.apply_batch(images, rows), rows, *kept)

    def _pixel_boxes(self, boxes, hw):
        px, invalid = pixel_boxes(boxes, hw)
        self.invalid_boxes += invalid
        return px


def check_boxes(boxes, labels, sample_ids=None) -> None:
    """Refuse boxes that are not ``(count, 4)`` rows, and samples whose boxes and labels
    differ in number (they would be paired wrongly), naming the sample."""
    if len(boxes) != len(labels):
        raise ValueError(f"boxes has {len(boxes)} samples and labels {len(labels)}")
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        b, lab = np.asarray(b), np.asarray(lab)
        who = f"sample {i} of the batch" + ("" if sample_ids is None else
                                            f" (sample_id {np.ravel(sample_ids[i])[0]})")
        if b.size and (b.ndim != 2 or b.shape[1] != 4):
            raise ValueError(f"boxes of {who} have shape {b.shape}: expected (count, 4) "
                             f"ltrb rows")
        if lab.ndim == 0 or len(lab) != len(b.reshape(-1, 4)):
            raise ValueError(f"{who} has {len(b.reshape(-1, 4))} boxes and "
                             f"{lab.size if lab.ndim == 0 else len(lab)} labels: each box "
                             f"needs one label row (boxes and labels from the same reader)")


def pixel_boxes(boxes, hw):
    """``(N, K, 4)`` pixel ``(y0, x0, y1, x1)`` from per-sample ltrb fractions (checked by
    :func:`check_boxes`), clipped to the image, NaN rows for padding and for dropped boxes
    (a NaN coordinate, or no area once clipped); and how many were dropped."""
    n, k = len(boxes), max([len(np.reshape(b, (-1, 4))) for b in boxes], default=0)
    px = np.full((n, k, 4), np.nan)
    for i, b in enumerate(boxes):  # packing only: one slice per sample
        b = np.asarray(b, np.float64).reshape(-1, 4)
        px[i, :len(b)] = b[:, [1, 0, 3, 2]]
    px = np.clip(px, 0.0, 1.0) * np.tile(hw[:, None, :], 2)
    bad = np.isnan(px).any(-1) | (px[..., 2] <= px[..., 0]) | (px[..., 3] <= px[..., 1])
    present = np.arange(k)[None, :] < np.array([np.size(b) // 4 for b in boxes])[:, None]
    px[bad] = np.nan
    return px, int((bad & present).sum())


def ltrb(px, hw) -> np.ndarray:
    """float32 ltrb fractions from pixel ``(y0, x0, y1, x1)`` boxes."""
    return (px / np.tile(hw[:, None, :], 2))[..., [1, 0, 3, 2]].astype(np.float32)


def select(labels, keep) -> list:
    """Per sample, the labels (rows) whose box is kept."""
    return [np.asarray(lab)[k[:len(lab)]] for lab, k in zip(labels, keep)]


def indices(labels, keep) -> list:
    """Per sample, the int32 indices of the kept boxes."""
    return [np.flatnonzero(k[:len(lab)]).astype(np.int32) for lab, k in zip(labels, keep)]


def visibility(holes, counts, boxes, hw):
    """Visible fraction and visible extent of each box under the union of the holes.

    Exact in pixel units: the holes' edges cut each image into a grid of cells that are
    either covered or not; a box's covered area is the sum over cells of the cell's coverage
    times the box's overlap with the cell's rows and columns.

    Parameters
    ----------
    holes : (N, R, 4) int ndarray
        ``(y0, x0, y1, x1)``, the first ``counts`` in use.
    counts : (N,) int ndarray
    boxes : (N, K, 4) float ndarray
        Pixel ``(y0, x0, y1, x1)``.
    hw : (N, 2) array

    Returns
    -------
    visible : (N, K) float ndarray
        Fraction of each box's area not covered (0 for empty boxes).
    extent : (N, K, 4) float ndarray
        Bounding box of the visible part (the box itself where nothing is visible).
    """
    holes = holes[:, :max(int(counts.max(initial=0)), 1)]  # slots in use in some sample
    holes = np.where((np.arange(holes.shape[1]) < counts[:, None])[..., None], holes, 0)
    hw = np.asarray(hw, np.float64)
    inside, overlap, edges = [], [], []
    for axis in (0, 1):  # rows, then columns
        e = np.sort(np.concatenate([np.zeros((len(hw), 1)), hw[:, axis:axis + 1],
                                    holes[..., axis], holes[..., axis + 2]], 1), 1)
        mid = (e[:, :-1] + e[:, 1:])[..., None] / 2  # (N, cells, 1)
        inside.append(((holes[:, None, :, axis] <= mid) &
                       (mid < holes[:, None, :, axis + 2])).astype(np.float64))
        lo, hi = boxes[..., axis:axis + 1], boxes[..., axis + 2:axis + 3]
        overlap.append(np.clip(np.minimum(hi, e[:, None, 1:]) - np.maximum(lo, e[:, None, :-1]),
                               0, None))  # (N, K, cells): box length in each cell
        edges.append(e)
    cover = np.einsum("njr,nir->nji", *inside) > 0  # cell (row j, column i) is in a hole
    (ly, lx), f64 = overlap, np.float64
    area = ly.sum(-1) * lx.sum(-1)
    covered = np.einsum("nkj,nji,nki->nk", ly, cover.astype(f64), lx)
    visible = np.where(area > 0, 1 - covered / np.where(area > 0, area, 1), 0.0)
    open_ = (~cover).astype(f64)
    seen = ((np.einsum("nji,nki->nkj", open_, (lx > 0).astype(f64)) > 0) & (ly > 0),
            (np.einsum("nkj,nji->nki", (ly > 0).astype(f64), open_) > 0) & (lx > 0))
    extent = boxes.astype(f64).copy()
    for axis in (0, 1):  # the first and last row (column) cells with something visible
        s, e = seen[axis], edges[axis]
        first = np.argmax(s, -1)[..., None]
        last = s.shape[-1] - 1 - np.argmax(s[..., ::-1], -1)[..., None]
        lo = np.take_along_axis(e[:, None, :-1], first, -1)[..., 0]
        hi = np.take_along_axis(e[:, None, 1:], last, -1)[..., 0]
        any_ = s.any(-1)
        extent[..., axis] = np.where(any_, np.maximum(boxes[..., axis], lo), boxes[..., axis])
        extent[..., axis + 2] = np.where(any_, np.minimum(boxes[..., axis + 2], hi),
                                         boxes[..., axis + 2])
    return visible, extent
