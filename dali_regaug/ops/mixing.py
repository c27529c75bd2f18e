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

from dali_regaug import launch, rng, validate
from dali_regaug.ops import composite, rects
from dali_regaug.ops.base import Op, _rows, scalars


class Mix(Op):
    """CutMix or MixUp per sample; see the module docstring and :func:`dali_regaug.fn.mix`."""

    kernel = "composite"
    params_dtype = rects.params_dtype(1)

    def __init__(self, *, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, prob=1.0,
                 layout="HWC", seed=None, backend=None):
        super().__init__(prob=prob, layout=layout, seed=seed, backend=backend)
        self.mixup_alpha = validate.number("mixup_alpha", mixup_alpha, 0.0, 1e3)
        self.cutmix_alpha = validate.number("cutmix_alpha", cutmix_alpha, 0.0, 1e3)
        self.switch_prob = validate.number("switch_prob", switch_prob, 0.0, 1.0)
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError("mixup_alpha=0 and cutmix_alpha=0: at least one must be > 0")

    def sample(self, hw, keys, prob):
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
        box = rects.centred(np.floor(u[:, 2] * h), np.floor(u[:, 3] * w), np.floor(h * side),
                            np.floor(w * side), h, w)
        apply = u[:, 0] < prob
        return composite.params(box[:, None], apply & cut, w_in=0.0,
                                w_out=np.where(apply & ~cut, lam, 1.0), keys=keys)

    def apply(self, images, partners, params, *, backend=None, **launch_options):
        """Mix ``images`` with ``partners`` (same shapes) under ``params``: the partner's
        pixels inside each box (CutMix), or ``lam * image + (1 - lam) * partner`` (MixUp).

        Parameters
        ----------
        images, partners : list of arrays or array
        params : structured ndarray or list of arrays
            Records from :meth:`draw`, or per-sample device bytes.
        backend : {None, "numpy", "emulator"} or a launch backend
        """
        return composite.apply(images, partners, params, layout=self.layout,
                               backend=backend if backend is not None else self.backend,
                               **launch_options)

    # -- DALI python_function bodies ---------------------------------------------------------
    def sample_batch(self, shapes, sample_ids=None):
        """CPU op: shapes (and ids) in; parameter bytes and ``lam`` out."""
        recs = self._draw_shapes(shapes, sample_ids)
        return _rows(recs), self._lams(recs, shapes)

    def apply_batch(self, images, partners, params):
        """Op on the images' device: images, their partners and parameter bytes (or records)
        in, images out. Partners are indices into the batch on CPU (views, not a permuted
        copy), a permuted batch on GPU."""
        if not images:
            return []
        if np.ndim(partners[0]) < 2:
            partners = [images[i] for i in scalars(partners)]
        if launch.backend_for(images, self.backend) is None:  # NumPy path: records
            params = self._as_records(params)
        return list(composite.apply(images, partners, params, layout=self.layout,
                                    backend=self.backend, workspace=self._workspace))

    def run_batch(self, images, partners, sample_ids=None):
        """CPU op sampling and applying in one step: images, each sample's partner index in
        the batch (and ids) in; images, parameter bytes and ``lam`` out."""
        shapes = [a.shape for a in images]
        recs = self._draw_shapes(shapes, sample_ids)
        return self.apply_batch(images, partners, recs), _rows(recs), self._lams(recs, shapes)

    def _lams(self, recs, shapes):
        return list(composite.lam(recs, self._hw(shapes)).reshape(-1, 1))
