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

from dali_regaug.declare import Operator
from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.placement import NearPeak

OPERATORS = (Operator("cam_erasing", RandomErasing, "CAM-based Random Erasing (Oh & Lee "
                      "2023)", placement=NearPeak),)
