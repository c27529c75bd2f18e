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

from dali_regaug.ops.mixing import CutMix, mixing
from dali_regaug.ops.placement import BelowQuantile

OPERATORS = (mixing("keep_cutmix", CutMix, "CutMix (Yun et al. 2019) whose cut avoids the "
                    "salient part (KeepAugment, Gong et al. 2021)", placement=BelowQuantile),)
