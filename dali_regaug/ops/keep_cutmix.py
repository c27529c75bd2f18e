"""CutMix whose cut avoids the salient part of the base image (KeepAugment's selective cut
applied to CutMix).

Yun et al. 2019 (CutMix) draw ``lam ~ Beta(alpha, alpha)`` and a box of sides
``W sqrt(1 - lam)``, ``H sqrt(1 - lam)`` centred uniformly (:mod:`dali_regaug.ops.mixing`);
Gong et al. 2021 (KeepAugment, arXiv:2011.11778, Sec. 3.1) cut only regions whose
importance is below the ``tau``-quantile of all candidates'. Here the box keeps CutMix's
size and is centred among the candidates of that size with low importance in the base
image's map, so the partner covers the base image's background rather than its object.
``lam`` is then corrected to the exact area kept, as in CutMix, from the record.

Readings chosen: KeepAugment defines selective cut for Cutout; applying it to CutMix's box
(the base image's region that is cut away) is this library's, as the issue asks. The
partner's saliency is not used. Samples without a map are mixed exactly as CutMix mixes them.
"""

from __future__ import annotations

import numpy as np

from dali_regaug.ops.guided import Guide, Guided
from dali_regaug.ops.mixing import Mix


class KeepCutMix(Guided, Mix):
    """Saliency-guided CutMix; see the module docstring and :func:`dali_regaug.fn.keep_cutmix`."""

    def __init__(self, *, bank, alpha=1.0, tau=0.6, prob=1.0, start_epoch=0, layout="HWC",
                 seed=None, backend=None):
        super().__init__(mixup_alpha=0.0, cutmix_alpha=alpha, prob=prob, layout=layout,
                         seed=seed, backend=backend)
        self.guide = Guide(bank, tau, start_epoch)

    def _centres(self, hw, keys, u, sh, sw, cut, maps=None, present=None):
        """CutMix's centres; those of cut samples with a map drawn among the candidates of
        the box's size with low importance in the base image."""
        cy, cx = super()._centres(hw, keys, u, sh, sw, cut)
        return self.guide.replace(cy, cx, None if present is None else cut & present, maps,
                                  np.stack([sh, sw], 1), keys, above=False,
                                  backend=self.backend)
