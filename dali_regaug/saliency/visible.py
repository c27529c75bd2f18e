"""Which pixels of each training view still show the sample's own image after the region
operators: the ``visible`` argument of :meth:`SaliencyBank.update`, so that saliency
measured on erased or pasted pixels is not written into the sample's map.

A pixel stops being visible where a masking operator fills it, and where a composite gives
the image itself no weight (CutMix's pasted box; outside a selective paste, where the view
is ``A(x)`` rather than the crop). MixUp's blend keeps every pixel visible.
"""

from __future__ import annotations

import numpy as np


class Visible:
    """DALI body: the parameter bytes of each operator of a chain in, one uint8
    ``(h, w)`` mask per sample out (1: the sample's own pixel).

    Parameters
    ----------
    ops : list
        The chain's operators, in order (``dali_regaug.registry.ops(pipe)`` values).
    hw : (int, int)
        The views' height and width.
    """

    def __init__(self, ops, hw):
        self.ops, self.hw = list(ops), tuple(hw)

    def __call__(self, *param_batches):
        h, w = self.hw
        seen = None
        for op, rows in zip(self.ops, param_batches):
            recs = op.records(rows)
            if seen is None:
                seen = np.ones((len(recs), h, w), bool)
            seen &= ~np.broadcast_to(op.hidden(recs, h, w), seen.shape)
        return list(seen.astype(np.uint8))
