"""KeepAugment's selective cut for Cutout ("KeepCutout").

Gong, Wang, Li, Chandra, Liu, "KeepAugment: A Simple Information-Preserving Data
Augmentation Approach", CVPR 2021 (arXiv:2011.11778), Sec. 3.1: the cut region is drawn
uniformly among the candidate regions whose importance (the saliency summed over the
region) is below the ``tau``-quantile of all candidates' importance, so that the most
important part of the image is not cut (whenever enough candidates miss it). Scoring and
the threshold are in :mod:`dali_regaug.saliency.regions`; the saliency comes from a
:class:`~dali_regaug.saliency.SaliencyBank` (KeepAugment computes it per step; see
:mod:`dali_regaug.saliency.producers`).

Readings chosen: the candidates are Cutout's own squares (every centre, clipped at the
border; :mod:`dali_regaug.ops.erasing`), so a flat map allows every one, and a sample
without a map yet is cut exactly as :class:`~dali_regaug.ops.erasing.Cutout` cuts it.
Each of ``count`` squares is drawn independently from the same candidates.
"""

from __future__ import annotations

import numpy as np

from dali_regaug.ops import rects
from dali_regaug.ops.erasing import Cutout
from dali_regaug.ops.guided import Guide, Guided, guide_uniforms


class KeepCutout(Guided, Cutout):
    """Selective-cut Cutout; see the module docstring and :func:`dali_regaug.fn.keep_cutout`."""

    def __init__(self, *, bank, size, tau=0.6, count=1, prob=1.0, fill=0.0, start_epoch=0,
                 layout="HWC", seed=None, backend=None):
        super().__init__(size=size, count=count, prob=prob, fill=fill, layout=layout,
                         seed=seed, backend=backend)
        self.guide = Guide(bank, tau, start_epoch)

    def sample(self, hw, keys, prob, maps=None, present=None):
        """Cutout's records, with the squares of samples that have a map (``present``)
        placed among the low-importance candidates of their view ``maps``."""
        p = super().sample(hw, keys, prob)
        if present is None or not present.any():
            return p
        g = np.flatnonzero(present)
        u = guide_uniforms(keys, present, self.count)
        cy, cx = self.guide.centres([maps[i] for i in g], np.full((len(g), 2), self.size), u,
                                    above=False, backend=self.backend)
        p["boxes"][g] = rects.centred(cy, cx, self.size, self.size, hw[g, 0, None],
                                      hw[g, 1, None])
        return p
