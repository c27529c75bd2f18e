"""KeepAugment's selective paste: after an image-level transform, paste an important region
of the original back.

Gong, Wang, Li, Chandra, Liu, "KeepAugment: A Simple Information-Preserving Data
Augmentation Approach", CVPR 2021 (arXiv:2011.11778), Sec. 3.1: with ``x' = A(x)``, a
region ``S`` is drawn uniformly among those whose importance is above the ``tau``-quantile
of all candidates', and ``x~ = M(S) x + (1 - M(S)) x'``. The paste is the two-source
composite (``kernels/composite.cu``); scoring and the threshold are in
:mod:`dali_regaug.ops.regions`.

Readings chosen: the candidates are the squares of side ``size`` centred on every pixel,
clipped at the border (those of :mod:`dali_regaug.ops.keep_cutout`); a sample without a
map yet keeps ``A(x)`` whole, which is what the unguided transform gives.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import rng
from dali_regaug.declare import IMAGE_LEVEL, REQUIRED, Arg, Operator, Port
from dali_regaug.ops import composite, rects
from dali_regaug.ops.base import prob_arg
from dali_regaug.ops.placement import AboveQuantile


class Paste(composite.TwoSource):
    """Selective paste; see the module docstring and :func:`dali_regaug.fn.keep_paste`.
    :meth:`apply` takes the original images and their transformed versions. Its placement
    is a guided one (:class:`~dali_regaug.ops.placement.AboveQuantile`): without a map a
    sample keeps ``A(x)`` whole."""

    ARGS = (Arg("size", REQUIRED, "side of the pasted square in pixels", "int", 1, 2**20),
            prob_arg(1.0))

    def sample(self, hw, keys, prob, view=None):
        """Records pasting one square of the original (``a``) onto the transformed image
        (``b``), for the samples that have a map and win the ``prob`` coin."""
        n = len(keys)
        on = rng.uniform(keys, 1)[:, 0] < prob
        on &= np.zeros(n, bool) if view is None else view.present
        cy, cx = self.placement.centres(np.zeros((n, 1)), np.zeros((n, 1)), view,
                                        np.full((n, 2), self.size), keys, mask=on)
        boxes = rects.centred(cy, cx, self.size, self.size, hw[:, 0, None], hw[:, 1, None])
        return composite.params(boxes * on[:, None, None], on, w_in=1.0, w_out=0.0, keys=keys)


OPERATORS = (Operator(
    "keep_paste", Paste, "KeepAugment's selective paste (Gong et al. 2021)",
    inputs=(Port("augmented", "the transformed images A(x), same shapes, on the images' "
                 "device; by default dali_regaug.fn.image_level(images, rotate, brightness, "
                 "contrast)", "partner", optional=True, default="image_level"),),
    placement=AboveQuantile, partners="augmented", graph_args=IMAGE_LEVEL),)
