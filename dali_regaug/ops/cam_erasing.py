"""Random Erasing placed by a class activation map (CAM-based Random Erasing).

Oh, Lee, "Class Activation Map based Random Erasing for Data Augmentation", Journal of
Korea Multimedia Society 26(10), 2023 (doi:10.9717/kmms.2023.26.10.1231): Grad-CAM
estimates where the object is, and Random Erasing's regions are restricted to the vicinity
of the object by a hyperparameter set on the Grad-CAM map; maps are used only after some
epochs of training.

Readings chosen (only the paper's abstract was available to us): the vicinity is the set of
pixels whose CAM is at least ``threshold`` times the view's maximum, and each region's
centre is drawn uniformly from it. Everything else is Random Erasing's Algorithm 1
(:mod:`dali_regaug.ops.erasing`): the area and aspect draws, the region centred on the
drawn pixel ``(y - H_e // 2, x - W_e // 2)``, never clipped, redrawn until it fits (up to
``MAX_ATTEMPTS``). ``threshold=0`` lets every pixel be a centre. Samples without a map,
and all samples before ``start_epoch`` (the paper's intermediate epoch), are erased by
plain Random Erasing.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import validate
from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.guided import Guide, Guided, guide_uniforms


class CamErasing(Guided, RandomErasing):
    """CAM-guided Random Erasing; see the module docstring and
    :func:`dali_regaug.fn.cam_erasing`."""

    def __init__(self, *, bank, threshold=0.5, prob=0.5, area=(0.02, 0.4),
                 aspect=(0.3, 1 / 0.3), count=1, fill="random", start_epoch=0, layout="HWC",
                 seed=None, backend=None):
        super().__init__(prob=prob, area=area, aspect=aspect, count=count, fill=fill,
                         layout=layout, seed=seed, backend=backend)
        self.threshold = validate.number("threshold", threshold, 0.0, 1.0)
        self.guide = Guide(bank, 0.0, start_epoch)

    def _corners(self, hw, keys, u, eh, ew, done=0, maps=None, present=None):
        """Random Erasing's corners; for samples with a map (``present``), those of regions
        centred on pixels drawn from the CAM's vicinity, one per attempt (``done``
        attempts per region came before)."""
        y0, x0 = super()._corners(hw, keys, u, eh, ew)
        if present is None or not present.any():
            return y0, x0
        g = np.flatnonzero(present)
        cy, cx = self.guide.near([maps[i] for i in g], self.threshold,
                                 guide_uniforms(keys, present, eh[0].size,
                                                offset=done * eh.shape[1]))
        y0[g] = cy.reshape(eh[g].shape) - eh[g] // 2
        x0[g] = cx.reshape(ew[g].shape) - ew[g] // 2
        return y0, x0
