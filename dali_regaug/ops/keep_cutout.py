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

from dali_regaug.ops.erasing import Cutout
from dali_regaug.ops.guided import Guide, Guided


class KeepCutout(Guided, Cutout):
    """Selective-cut Cutout; see the module docstring and :func:`dali_regaug.fn.keep_cutout`."""

    def __init__(self, *, bank, size, tau=0.6, count=1, prob=1.0, fill=0.0, start_epoch=0,
                 layout="HWC", seed=None, backend=None):
        super().__init__(size=size, count=count, prob=prob, fill=fill, layout=layout,
                         seed=seed, backend=backend)
        self.guide = Guide(bank, tau, start_epoch)

    def _centres(self, hw, keys, u, maps=None, present=None):
        """Cutout's centres; those of samples with a map (``present``) drawn among the
        low-importance candidates of their view ``maps``."""
        cy, cx = super()._centres(hw, keys, u)
        return self.guide.replace(cy, cx, present, maps, np.full((len(keys), 2), self.size),
                                  keys, above=False, backend=self.backend)
