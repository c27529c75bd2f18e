"""KeepAugment's selective paste: after an image-level transform, paste an important region
of the original back.

Gong, Wang, Li, Chandra, Liu, "KeepAugment: A Simple Information-Preserving Data
Augmentation Approach", CVPR 2021 (arXiv:2011.11778), Sec. 3.1: with ``x' = A(x)``, a
region ``S`` is drawn uniformly among those whose importance is above the ``tau``-quantile
of all candidates', and ``x~ = M(S) x + (1 - M(S)) x'``. The paste is the two-source
composite (``kernels/composite.cu``); scoring and the threshold are in
:mod:`dali_regaug.saliency.regions`.

Readings chosen: the candidates are the squares of side ``size`` centred on every pixel,
clipped at the border (those of :mod:`dali_regaug.ops.keep_cutout`); a sample without a
map yet keeps ``A(x)`` whole, which is what the unguided transform gives.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import rng, validate
from dali_regaug.ops import composite, rects
from dali_regaug.ops.guided import Guide, Guided


class KeepPaste(Guided, composite.TwoSource):
    """Selective paste; see the module docstring and :func:`dali_regaug.fn.keep_paste`.
    :meth:`apply` takes the original images and their transformed versions."""

    def __init__(self, *, bank, size, tau=0.6, prob=1.0, start_epoch=0, layout="HWC",
                 seed=None, backend=None):
        super().__init__(prob=prob, layout=layout, seed=seed, backend=backend)
        self.size = validate.number("size", size, 1, 2**20, integer=True)
        self.guide = Guide(bank, tau, start_epoch)

    def sample(self, hw, keys, prob, maps=None, present=None):
        """Records pasting one square of the original (``a``) onto the transformed image
        (``b``), for the samples that have a map and win the ``prob`` coin."""
        n = len(keys)
        on = rng.uniform(keys, 1)[:, 0] < prob
        on &= np.zeros(n, bool) if present is None else present
        cy, cx = self.guide.replace(np.zeros((n, 1)), np.zeros((n, 1)), on, maps,
                                    np.full((n, 2), self.size), keys, above=True,
                                    backend=self.backend)
        boxes = rects.centred(cy, cx, self.size, self.size, hw[:, 0, None], hw[:, 1, None])
        return composite.params(boxes * on[:, None, None], on, w_in=1.0, w_out=0.0, keys=keys)
