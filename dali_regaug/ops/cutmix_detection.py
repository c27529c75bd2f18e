"""CutMix for detection: the partner's pixels, boxes and masks inside the pasted region
(``kernels/composite.cu`` pastes pixels and masks).

Yun et al. 2019 (CutMix) place the region as in :mod:`dali_regaug.ops.mixing`; the paper's
detection results fine-tune CutMix-pretrained backbones and do not define box handling, so
the box rules here are ours, following Random Erasing's for occlusion
(:mod:`dali_regaug.ops.bbox_erasing`):

* the base image's boxes are kept unchanged when their visible fraction outside the region
  is at least ``min_visibility`` (and not zero);
* the partner's boxes are clipped to the region and kept when the clipped box keeps at least
  ``min_visibility`` of their area (and some area);
* labels are the kept base labels followed by the kept partner labels; there is no ``lam``:
  every object keeps its own label.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import validate
from dali_regaug.ops.base import _rows, scalars
from dali_regaug.ops.bbox_erasing import (check_boxes, indices, ltrb, pixel_boxes, select,
                                          visibility)
from dali_regaug.ops.mixing import Mix


class CutMixDetection(Mix):
    """See the module docstring and :func:`dali_regaug.fn.cutmix` with ``boxes``."""

    def __init__(self, *, alpha=1.0, prob=1.0, min_visibility=0.0, layout="HWC", seed=None,
                 backend=None):
        super().__init__(mixup_alpha=0.0, cutmix_alpha=alpha, prob=prob, layout=layout,
                         seed=seed, backend=backend)
        self.min_visibility = validate.number("min_visibility", min_visibility, 0.0, 1.0)
        self.invalid_boxes = 0  # boxes dropped as NaN or empty, since construction

    def boxes_after(self, p, hw, boxes, partner_boxes):
        """Which base boxes stay, and the partner's boxes clipped to the region.

        Parameters
        ----------
        p : structured ndarray
            Records from :meth:`draw` (one region each).
        hw : (N, 2) array
        boxes, partner_boxes : (N, K, 4) float ndarrays
            Pixel ``(y0, x0, y1, x1)`` of each sample's and of its partner's boxes, NaN rows
            for none.

        Returns
        -------
        keep : (N, K) bool
        pasted : (N, K2) bool
            Partner boxes that enter the image.
        clipped : (N, K2, 4) float ndarray
        """
        visible = visibility(p["boxes"], p["count"], np.nan_to_num(boxes), hw)[0]
        keep = ~np.isnan(boxes[..., 0]) & (visible > 0) & (visible >= self.min_visibility)
        region = _region(p)[:, None, :]
        clipped = np.concatenate([np.maximum(partner_boxes[..., :2], region[..., :2]),
                                  np.minimum(partner_boxes[..., 2:], region[..., 2:])], -1)
        area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), -1)  # noqa: E731
        full = np.nan_to_num(area(partner_boxes))
        inside = np.nan_to_num(area(clipped))
        pasted = (inside > 0) & (inside >= self.min_visibility * full)
        return keep, pasted, clipped

    # -- DALI python_function bodies ---------------------------------------------------------
    def sample_batch(self, shapes, partners, boxes, labels, sample_ids=None):
        """CPU op: shapes, partner indices, ltrb boxes and labels (and ids) in; parameter
        bytes, the new boxes and labels, then for instance masks the indices of the kept
        own boxes and of the pasted partner boxes, and the region as ``(x0, y0, x1, y1)``
        fractions, out."""
        check_boxes(boxes, labels, sample_ids)
        hw = self._hw(shapes)
        px, invalid = pixel_boxes(boxes, hw)
        self.invalid_boxes += invalid
        recs = self._draw_shapes(shapes, sample_ids)
        order = scalars(partners)
        partner_labels = [labels[i] for i in order]
        keep, pasted, clipped = self.boxes_after(recs, hw, px, px[order])
        out_boxes = [np.concatenate([a[k], b[m]]) for a, k, b, m in
                     zip(ltrb(px, hw), keep, ltrb(clipped, hw), pasted)]
        out_labels = [np.concatenate([a, b]) for a, b in
                      zip(select(labels, keep), select(partner_labels, pasted))]
        return (_rows(recs), out_boxes, out_labels, indices(labels, keep),
                indices(partner_labels, pasted), list(ltrb(_region(recs)[:, None], hw)[:, 0]))

    def run_batch(self, images, partners, boxes, labels, sample_ids=None):
        """CPU op sampling and applying in one step: images, partner indices, boxes and
        labels (and ids) in; images and :meth:`sample_batch`'s outputs out."""
        rows, *sampled = self.sample_batch([a.shape for a in images], partners, boxes, labels,
                                           sample_ids)
        return (self.apply_batch(images, partners, rows), rows, *sampled)


def _region(p):
    """``(N, 4)`` pixel ``(y0, x0, y1, x1)`` pasted region of each record, zeros for none."""
    return np.where((p["count"] > 0)[:, None], p["boxes"][:, 0], 0)
