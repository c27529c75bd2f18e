"""CutMix and MixUp: each image is mixed with a partner from the same batch, and the labels
are mixed by the same weight ``lam`` (the weight of the image's own pixels and label).

CutMix: Yun, Han, Oh, Chun, Choe, Yoo, "CutMix: Regularization Strategy to Train Strong
Classifiers with Localizable Features", ICCV 2019 (arXiv:1905.04899), Eq. 1-2:
``lam ~ Beta(alpha, alpha)``; a box with centre ``(r_x, r_y)`` uniform over the image and
sides ``W sqrt(1 - lam)``, ``H sqrt(1 - lam)`` is pasted from the partner.
MixUp: Zhang, Cisse, Dauphin, Lopez-Paz, "mixup: Beyond Empirical Risk Minimization",
ICLR 2018 (arXiv:1710.09412): ``x = lam x_i + (1 - lam) x_j`` with ``lam ~ Beta(alpha, alpha)``.
``Mix`` picks one of them per sample, as timm's ``Mixup`` does (``switch_prob``).

Readings chosen:

* One ``lam``, box and choice per **sample** (timm's ``"elem"`` mode); the papers' code draws
  one per batch.
* Sides are ``floor(W sqrt(1 - lam))`` as in the official code; the box is
  ``[c - s // 2, c - s // 2 + s)`` along each axis (exactly ``s`` before clipping; the
  official ``c +- s // 2`` is one pixel short for odd ``s``), clipped to the image.
* After clipping, ``lam`` is corrected to the exact area kept (``1 - box area / (W H)``), as
  the official code and timm's ``correct_lam`` do; it is computed from the parameter record
  (:func:`dali_regaug.ops.composite.lam`), so labels always match the pixels.
* A sample not mixed (probability ``1 - prob``) keeps its pixels and gets ``lam = 1``.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import rng, validate
from dali_regaug.ops import composite, rects
from dali_regaug.ops.base import _rows


class Mix(composite.TwoSource):
    """CutMix or MixUp per sample; see the module docstring and :func:`dali_regaug.fn.mix`.
    :meth:`apply` pastes the partner's pixels inside each box (CutMix) or blends
    ``lam * image + (1 - lam) * partner`` (MixUp)."""

    def __init__(self, *, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, prob=1.0,
                 layout="HWC", seed=None, backend=None):
        super().__init__(prob=prob, layout=layout, seed=seed, backend=backend)
        self.mixup_alpha = validate.number("mixup_alpha", mixup_alpha, 0.0, 1e3)
        self.cutmix_alpha = validate.number("cutmix_alpha", cutmix_alpha, 0.0, 1e3)
        self.switch_prob = validate.number("switch_prob", switch_prob, 0.0, 1.0)
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError("mixup_alpha=0 and cutmix_alpha=0: at least one must be > 0")

    def sample(self, hw, keys, prob, **inputs):
        u = rng.uniform(keys, 4)
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            cut = u[:, 1] < self.switch_prob
        else:
            cut = np.full(len(keys), self.cutmix_alpha > 0)
        lam = np.empty(len(keys))  # one Beta draw per sample, with its mode's alpha
        lam[cut] = rng.beta(keys[cut], self.cutmix_alpha)
        lam[~cut] = rng.beta(keys[~cut], self.mixup_alpha)
        h, w = hw[:, 0], hw[:, 1]
        side = np.sqrt(1 - lam)
        sh, sw = np.floor(h * side), np.floor(w * side)
        apply = u[:, 0] < prob
        cy, cx = self._centres(hw, keys, u, sh, sw, apply & cut, **inputs)
        box = rects.centred(cy, cx, sh, sw, h, w)
        return composite.params(box[:, None], apply & cut, w_in=0.0,
                                w_out=np.where(apply & ~cut, lam, 1.0), keys=keys)

    def _centres(self, hw, keys, u, sh, sw, cut):
        """Box centres, uniform over the image (CutMix's ``r_x, r_y``)."""
        return np.floor(u[:, 2] * hw[:, 0]), np.floor(u[:, 3] * hw[:, 1])

    # -- DALI python_function bodies ---------------------------------------------------------
    def sample_batch(self, shapes, sample_ids=None):
        """CPU op: shapes (and ids) in; parameter bytes and ``lam`` out."""
        return self._outputs(self._draw_shapes(shapes, sample_ids), shapes)

    def run_batch(self, images, partners, sample_ids=None):
        """CPU op sampling and applying in one step: images, each sample's partner index in
        the batch (and ids) in; images, parameter bytes and ``lam`` out."""
        shapes = [a.shape for a in images]
        recs = self._draw_shapes(shapes, sample_ids)
        return (self.apply_batch(images, partners, recs), *self._outputs(recs, shapes))

    def _outputs(self, recs, shapes):
        return _rows(recs), list(composite.lam(recs, self._hw(shapes)).reshape(-1, 1))
