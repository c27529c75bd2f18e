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

from dali_regaug import rng
from dali_regaug.declare import SAMPLE_IDS, Arg, Operator, Port
from dali_regaug.ops import composite, rects
from dali_regaug.ops.base import prob_arg


class Mix(composite.TwoSource):
    """CutMix or MixUp per sample; see the module docstring and :func:`dali_regaug.fn.mix`.
    :meth:`apply` pastes the partner's pixels inside each box (CutMix) or blends
    ``lam * image + (1 - lam) * partner`` (MixUp). With a
    :class:`~dali_regaug.ops.placement.BelowQuantile` placement the box avoids the salient
    part of the image (:mod:`dali_regaug.ops.keep_cutmix`)."""

    ARGS = (Arg("mixup_alpha", 0.8, "MixUp's Beta parameter; 0 disables MixUp", "float",
                0.0, 1e3, per_sample=True),
            Arg("cutmix_alpha", 1.0, "CutMix's Beta parameter; 0 disables CutMix", "float",
                0.0, 1e3, per_sample=True),
            Arg("switch_prob", 0.5, "chance of CutMix when both modes are enabled", "float",
                0.0, 1.0, per_sample=True),
            prob_arg(1.0, "chance to mix a sample at all (otherwise lam = 1), or an epoch "
                     "schedule"))

    def setup(self):
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError("mix: mixup_alpha=0 and cutmix_alpha=0: at least one must be > 0")

    def modes(self):
        """MixUp's and CutMix's Beta parameters (numbers, or one per sample) and the chance
        of CutMix when both are on."""
        return self.mixup_alpha, self.cutmix_alpha, self.switch_prob

    def sample(self, hw, keys, prob, view=None):
        n = len(keys)
        u = rng.uniform(keys, 4)
        mixup, cutmix, switch = (np.broadcast_to(np.asarray(a, np.float64), n)
                                 for a in self.modes())
        cut = np.where((mixup > 0) & (cutmix > 0), u[:, 1] < switch, cutmix > 0)
        lam = np.empty(n)  # one Beta draw per sample, with its mode's alpha
        lam[cut] = rng.beta(keys[cut], cutmix[cut])
        lam[~cut] = rng.beta(keys[~cut], mixup[~cut])
        h, w = hw[:, 0], hw[:, 1]
        side = np.sqrt(1 - lam)
        sh, sw = np.floor(h * side), np.floor(w * side)
        apply = u[:, 0] < prob
        # box centres uniform over the image (CutMix's r_x, r_y), unless the placement moves them
        cy, cx = self.placement.centres(np.floor(u[:, 2] * h), np.floor(u[:, 3] * w), view,
                                        np.stack([sh, sw], 1), keys, mask=apply & cut)
        box = rects.centred(cy, cx, sh, sw, h, w)
        return composite.params(box[:, None], apply & cut, w_in=0.0,
                                w_out=np.where(apply & ~cut, lam, 1.0), keys=keys)

    def sampled(self, recs, hw, named):
        return {"lam": list(composite.lam(recs, hw).reshape(-1, 1))}


class CutMix(Mix):
    """CutMix alone (Yun et al. 2019)."""

    ARGS = (Arg("alpha", 1.0, "lam ~ Beta(alpha, alpha), then corrected to the area kept "
                "after clipping", "float", 1e-3, 1e3, per_sample=True), prob_arg(1.0))

    def setup(self):
        pass

    def modes(self):
        return 0.0, self.alpha, 0.0


class MixUp(Mix):
    """MixUp alone (Zhang et al. 2018)."""

    ARGS = (Arg("alpha", 0.2, "lam ~ Beta(alpha, alpha); 0.2 is the paper's ImageNet setting",
                "float", 1e-3, 1e3, per_sample=True), prob_arg(1.0))

    def setup(self):
        pass

    def modes(self):
        return self.alpha, 0.0, 0.0


LABELS = Port("labels", "one label per sample (CPU or GPU); returned as labels_a", "labels")
MIXED = (Port("labels", "the sample's own labels (labels_a)", "input", of="labels"),
         Port("labels_b", "the partner's labels", "permuted", of="labels"),
         Port("lam", "float32 weight of the sample's own label per sample: loss = lam * "
              "CE(labels_a) + (1 - lam) * CE(labels_b) (dali_regaug.torch.mixed_cross_entropy)",
              "sampled"))


def mixing(name, cls, summary, **kw) -> Operator:
    """A declaration over a :class:`Mix`: partners from the batch, the label triple out."""
    return Operator(name, cls, summary, inputs=(LABELS, SAMPLE_IDS), outputs=MIXED,
                    partners="batch", **kw)


OPERATORS = (mixing("mix", Mix, "CutMix or MixUp per sample, as timm's Mixup"),
             mixing("cutmix", CutMix, "CutMix (Yun et al. 2019)"),
             mixing("mixup", MixUp, "MixUp (Zhang et al. 2018)"))
