"""KeepAugment's selective cut for Cutout ("KeepCutout").

Gong, Wang, Li, Chandra, Liu, "KeepAugment: A Simple Information-Preserving Data
Augmentation Approach", CVPR 2021 (arXiv:2011.11778), Sec. 3.1: the cut region is drawn
uniformly among the candidate regions whose importance (the saliency summed over the
region) is below the ``tau``-quantile of all candidates' importance, so that the most
important part of the image is not cut (whenever enough candidates miss it). Scoring and
the threshold are in :mod:`dali_regaug.ops.regions`; the saliency comes from a
:class:`~dali_regaug.saliency.SaliencyBank` (KeepAugment computes it per step; see
:mod:`dali_regaug.saliency.producers`).

Readings chosen: the candidates are Cutout's own squares (every centre, clipped at the
border; :mod:`dali_regaug.ops.erasing`), so a flat map allows every one, and a sample
without a map yet is cut exactly as :class:`~dali_regaug.ops.erasing.Cutout` cuts it.
Each of ``count`` squares is drawn independently from the same candidates.
"""

from __future__ import annotations

from dali_regaug.declare import Operator
from dali_regaug.ops.erasing import Cutout
from dali_regaug.ops.placement import BelowQuantile

OPERATORS = (Operator("keep_cutout", Cutout, "KeepAugment's selective cut for Cutout "
                      "(Gong et al. 2021)", placement=BelowQuantile),)
