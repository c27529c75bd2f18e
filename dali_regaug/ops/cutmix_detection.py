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

from dali_regaug import batch as batch_mod
from dali_regaug.declare import SAMPLE_IDS, Arg, Operator
from dali_regaug.ops import boxes as box_mod
from dali_regaug.ops.bbox_erasing import BOX_LABELS, BOXES, INSTANCE_INPUTS, detection_outputs
from dali_regaug.ops.mixing import CutMix


class CutMixDetection(CutMix):
    """See the module docstring and :func:`dali_regaug.fn.cutmix_detection`."""

    ARGS = (*CutMix.ARGS,
            Arg("min_visibility", 0.0, "the fraction of a base box that must stay uncovered, "
                "and of a partner box that must lie inside the region, for the box to be kept",
                "float", 0.0, 1.0))

    def setup(self):
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
        visible = box_mod.visibility(p["boxes"], p["count"], np.nan_to_num(boxes), hw)[0]
        keep = ~np.isnan(boxes[..., 0]) & (visible > 0) & (visible >= self.min_visibility)
        clipped = box_mod.clip(partner_boxes, _region(p)[:, None, :])
        full = np.nan_to_num(box_mod.area(partner_boxes))
        inside = np.nan_to_num(box_mod.area(clipped))
        pasted = (inside > 0) & (inside >= self.min_visibility * full)
        return keep, pasted, clipped

    def for_masks(self):
        """The operator that pastes the partner's masks with the pixels."""
        return CutMixDetection(seed=0)

    def sample_named(self, named):
        """The sampler: the partner indices, ltrb boxes and labels in; the records, the new
        boxes and labels, then for instance masks the indices of the kept own boxes and of
        the pasted partner boxes, and the region as ``(x0, y0, x1, y1)`` fractions, out."""
        boxes, labels = named["boxes"], named["labels"]
        box_mod.check_boxes(boxes, labels, named.get("sample_ids"))
        hw = self.hw_of(named)
        px, invalid = box_mod.pixel_boxes(boxes, hw)
        self.invalid_boxes += invalid
        recs = self.draw(hw, self.ids_of(named), named)
        order = batch_mod.scalars(named["partners"])
        partner_labels = [labels[i] for i in order]
        keep, pasted, clipped = self.boxes_after(recs, hw, px, px[order])
        out_boxes = [np.concatenate([a[k], b[m]]) for a, k, b, m in
                     zip(box_mod.ltrb(px, hw), keep, box_mod.ltrb(clipped, hw), pasted)]
        out_labels = [np.concatenate([a, b]) for a, b in
                      zip(box_mod.select(labels, keep), box_mod.select(partner_labels, pasted))]
        return recs, {"boxes": out_boxes, "labels": out_labels,
                      "kept": box_mod.indices(labels, keep),
                      "pasted": box_mod.indices(partner_labels, pasted),
                      "regions": list(box_mod.ltrb(_region(recs)[:, None], hw)[:, 0])}


def _region(p):
    """``(N, 4)`` pixel ``(y0, x0, y1, x1)`` pasted region of each record, zeros for none."""
    return np.where((p["count"] > 0)[:, None], p["boxes"][:, 0], 0)


OPERATORS = (Operator(
    "cutmix_detection", CutMixDetection, "CutMix for detection (Yun et al. 2019; box rules "
    "after Zhong et al. 2017)", inputs=(BOXES, BOX_LABELS, *INSTANCE_INPUTS, SAMPLE_IDS),
    outputs=detection_outputs("the kept base boxes, then the partner's pasted ones clipped to "
                              "the region", "kept", "pasted", "regions"),
    partners="batch"),)
