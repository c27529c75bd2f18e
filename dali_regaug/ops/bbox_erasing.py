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

from dali_regaug import rng
from dali_regaug.declare import SAMPLE_IDS, Arg, Operator, Port
from dali_regaug.ops import boxes as box_mod
from dali_regaug.ops.rects import params_dtype as rect_set
from dali_regaug.ops.base import FILL_MEANING, prob_arg
from dali_regaug.ops.erasing import AREA, ASPECT, ATTEMPTS, Erase, place

MODES = {"image": (True, False), "object": (False, True), "image+object": (True, True),
         "ire": (True, False), "ore": (False, True), "i+ore": (True, True)}
_DRAWS = 1 + 4 * ATTEMPTS  # uniforms per region: the coin, then the placement attempts
MIN_VISIBILITY_MEANING = "boxes with a smaller visible fraction (under the union of the " \
    "regions) are removed with their labels; a box with nothing visible always is"


class BboxErasing(Erase):
    """IRE, ORE or I+ORE; see the module docstring and :func:`dali_regaug.fn.bbox_erasing`."""

    ARGS = (Arg("mode", "image+object", "where regions go: the whole image (IRE), each "
                "object's box (ORE), or both", "choice", choices=tuple(MODES)),
            prob_arg(0.5, "chance of the image-level region, or an epoch schedule"),
            Arg("object_prob", 0.5, "chance of a region in each box, independently", "float",
                0.0, 1.0, per_sample=True),
            AREA, ASPECT, Arg("fill", "random", FILL_MEANING, "fill"),
            Arg("min_visibility", 0.0, MIN_VISIBILITY_MEANING, "float", 0.0, 1.0),
            Arg("shrink", False, "replace each kept box by the bounding box of its visible "
                "part", "bool"),
            Arg("max_boxes", 100, "boxes per image that get object regions (later ones are "
                "only checked)", "int", 0, 4096),
            Arg("mask_fill", None, "value for erased mask pixels (an ignore label such as "
                "255); None leaves masks as they are", "optional_int", 0, 255))

    def setup(self):
        self.image, self.object = MODES[self.mode]
        self.params_dtype = rect_set(1 + self.max_boxes)
        self.invalid_boxes = 0  # boxes dropped as NaN or empty, since construction

    def sample(self, hw, keys, prob, view=None, boxes=None):
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
            object_prob = np.asarray(self.object_prob).reshape(-1, 1)  # one, or per sample
            on = (u[:, 1:, 0] < object_prob) & ~np.isnan(boxes[:, :k, 0])
            holes[:, 1:1 + k] = (hit + np.tile(top, 2).astype(np.int32)) * on[..., None]
        p = np.zeros(n, self.params_dtype)
        p["key"], p["count"], p["boxes"] = keys, 1 + k, holes
        return p

    def sample_inputs(self, inputs):
        return {"boxes": inputs.get("pixel_boxes")}

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
        visible, extent = box_mod.visibility(p["boxes"], p["count"], np.nan_to_num(boxes), hw)
        keep = present & (visible > 0) & (visible >= self.min_visibility)
        return keep, (extent if self.shrink else boxes)

    def for_masks(self):
        """The operator that applies these records to segmentation masks: an eraser with
        ``mask_fill``, or None (masks pass unchanged)."""
        if self.mask_fill is None:
            return None
        return Erase(max_boxes=1 + self.max_boxes, fill=self.mask_fill, seed=0)

    def sample_named(self, named):
        """The sampler: boxes and labels in; the records, the kept boxes and labels, and the
        kept boxes' indices (for ``segmentation.select_masks``) out."""
        labels = named["labels"]
        box_mod.check_boxes(named["boxes"], labels, named.get("sample_ids"))
        hw = self.hw_of(named)
        px, invalid = box_mod.pixel_boxes(named["boxes"], hw)
        self.invalid_boxes += invalid
        recs = self.draw(hw, self.ids_of(named), dict(named, pixel_boxes=px))
        keep, px = self.boxes_after(recs, hw, px)
        return recs, {"boxes": [r[k] for r, k in zip(box_mod.ltrb(px, hw), keep)],
                      "labels": box_mod.select(labels, keep),
                      "kept": box_mod.indices(labels, keep)}


BOXES = Port("boxes", "CPU float (k, 4) ltrb boxes per sample, as fractions of the image "
             "(readers.coco(ltrb=True, ratio=True), random_bbox_crop)")
BOX_LABELS = Port("labels", "CPU labels, one row per box")
INSTANCE_INPUTS = (
    Port("masks", "uint8 (H, W, 1) segmentation masks on the images' device", "masks",
         optional=True),
    Port("polygons", "CPU instance polygons, as readers.coco(polygon_masks=True) gives them",
         "instances", optional=True),
    Port("vertices", "CPU polygon vertices, with polygons", "instances", optional=True))


def detection_outputs(meaning, *hidden) -> tuple:
    """Outputs of a detection operator: boxes and labels, the updated masks and instances
    when given, and ``hidden`` sampled outputs for the adapter (kept, pasted, regions)."""
    return (Port("boxes", f"CPU ltrb boxes: {meaning}", "sampled"),
            Port("labels", "CPU labels of those boxes", "sampled"),
            Port("masks", "the masks, updated like the images", "masks", optional=True,
                 of="masks"),
            Port("polygons", "the instances of the kept boxes, renumbered like them",
                 "instances", optional=True, of="polygons"),
            Port("vertices", "their vertices", "instances", optional=True, of="vertices"),
            *(Port(name, "", "sampled", public=False) for name in hidden))


OPERATORS = (Operator(
    "bbox_erasing", BboxErasing, "Random Erasing for detection, IRE/ORE/I+ORE (Zhong et al. "
    "2017)", inputs=(BOXES, BOX_LABELS, *INSTANCE_INPUTS, SAMPLE_IDS),
    outputs=detection_outputs("the boxes that stay visible", "kept")),)
