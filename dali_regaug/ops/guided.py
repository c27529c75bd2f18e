"""What the saliency-guided operators share: maps from a :class:`SaliencyBank` warped into
each view, the warm-up, and the placement of regions by their scores.

A guided operator samples like its unguided one and then, for the samples that have a map
(and once the warm-up is over), replaces the placement with one chosen by saliency, drawn
from its own random stream. A sample without a map therefore gets exactly what the
unguided operator would have given it.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import rng, validate
from dali_regaug.ops.base import scalars
from dali_regaug.saliency import regions


class Guide:
    """The saliency side of a guided operator.

    Parameters
    ----------
    bank : SaliencyBank or None
        ``None`` for the trainer-side mode (:func:`dali_regaug.saliency.step.apply`),
        where each call is given its maps.
    tau : float
        Quantile of the candidate scores that separates the regions a cut may take from
        those a paste may take (KeepAugment's adaptive threshold), in [0, 1].
    start_epoch : int
        Epochs before this one are unguided (maps of an untrained model mean little).
    """

    def __init__(self, bank, tau, start_epoch):
        from dali_regaug.saliency import SaliencyBank

        if bank is not None and not isinstance(bank, SaliencyBank):
            raise TypeError(f"bank must be a dali_regaug.saliency.SaliencyBank, got "
                            f"{type(bank).__name__}")
        self.bank = bank
        self.tau = validate.number("tau", tau, 0.0, 1.0)
        self.start_epoch = validate.number("start_epoch", start_epoch, 0, None, integer=True)

    def read(self, sample_ids, crops, flips, hw, epoch):
        """Each sample's map in its view (a list) and whether it has one (False for all
        before ``start_epoch``)."""
        n = len(hw)
        maps, present = [None] * n, np.zeros(n, bool)
        if epoch < self.start_epoch or self.bank is None:
            return maps, present
        crops = np.asarray(crops, np.float64).reshape(n, 4)
        flips = np.asarray(flips).reshape(n)
        for idx in by_shape(hw):
            view, has = self.bank.read(sample_ids[idx], crops[idx], flips[idx],
                                       tuple(hw[idx[0]]))
            present[idx] = has
            for j, i in enumerate(idx):
                maps[i] = view[j]
        return maps, present

    def centres(self, maps, region_hw, u, *, above, backend=None):
        """``(cy, cx)``, each ``(B, m)``: centres of regions of ``region_hw`` ``(B, 2)``
        drawn with uniforms ``u`` ``(B, m)`` among the candidates below the
        ``tau``-quantile of the scores (a cut) or above it (``above``: a paste); see
        :func:`dali_regaug.saliency.regions.eligible`."""
        region_hw = np.asarray(region_hw).reshape(-1, 2)

        def allowed(q, idx):
            s = regions.scores(q, region_hw[idx], backend=backend)
            return regions.eligible(s, self.tau, above=above)

        return _pick(maps, u, allowed)

    def replace(self, cy, cx, guided, maps, region_hw, keys, *, above, backend=None):
        """``cy, cx`` (``(B,)`` or ``(B, m)``, changed in place) with the centres of the
        ``guided`` samples drawn by :meth:`centres` instead, from their own random stream;
        ``region_hw`` ``(B, 2)``. The unguided operators' ``_centres`` hooks call it."""
        if guided is None or not guided.any():
            return cy, cx
        g = np.flatnonzero(guided)
        shape = cy[g].shape
        new = self.centres([maps[i] for i in g], np.asarray(region_hw).reshape(-1, 2)[g],
                           guide_uniforms(keys, guided, int(np.prod(shape[1:], dtype=int))),
                           above=above, backend=backend)
        cy[g], cx[g] = (c.reshape(shape) for c in new)
        return cy, cx

    @staticmethod
    def near(maps, threshold, u):
        """``(cy, cx)``, each ``(B, m)``: pixels drawn with uniforms ``u`` among those whose
        (quantized) map is at least ``threshold`` times its maximum; any pixel of an
        all-zero map."""
        return _pick(maps, u, lambda q, idx: q >= np.ceil(
            threshold * q.max((1, 2), keepdims=True)))


def _pick(maps, u, allowed):
    """Per shape group: quantize the maps, ``allowed(q, idx)`` marks the candidates, and
    :func:`regions.pick` draws among them."""
    u = np.asarray(u).reshape(len(maps), -1)
    cy, cx = np.zeros(u.shape, np.int64), np.zeros(u.shape, np.int64)
    for idx in by_shape([m.shape for m in maps]):
        q = regions.quantize(np.stack([maps[i] for i in idx]))
        cy[idx], cx[idx] = np.divmod(regions.pick(allowed(q, idx), u[idx]), q.shape[2])
    return cy, cx


def by_shape(hw) -> list:
    """Index arrays of the samples of each distinct ``(h, w)`` (one for a fixed-size
    training batch)."""
    hw = np.asarray(hw).reshape(len(hw), -1)
    if not len(hw):
        return []
    _, inverse = np.unique(hw, axis=0, return_inverse=True)
    return [np.flatnonzero(inverse.reshape(-1) == g) for g in range(inverse.max() + 1)]


def guide_uniforms(keys, present, count, offset=0):
    """``(k, count)`` uniforms for the guided samples, from their own stream (after the
    first ``offset`` of it)."""
    return rng.uniform(keys[present], count, stream=rng.STREAM_GUIDE, offset=offset)


class Guided:
    """DALI bodies of a guided operator (mixed into an ``Op`` with a ``guide``): after the
    images (and their second sources) come the views' crops and flips and the
    ``sample_ids``; the outputs are the operator's (``Op._outputs``)."""

    def sample_batch(self, shapes, crops, flips, sample_ids):
        """CPU op: shapes, crops, flips and ids in; parameter bytes (and any other sampled
        outputs) out."""
        out = self._outputs(self._draw_guided(self._hw(shapes), crops, flips, sample_ids),
                            shapes)
        return out if len(out) > 1 else out[0]

    def run_batch(self, images, *inputs):
        """CPU op sampling and applying in one step: images, second sources if any, crops,
        flips and ids in; images and the sampled outputs out."""
        *partners, crops, flips, sample_ids = inputs
        shapes = [a.shape for a in images]
        recs = self._draw_guided(self._hw(shapes), crops, flips, sample_ids)
        return (self.apply_batch(images, *partners, recs), *self._outputs(recs, shapes))

    def _draw_guided(self, hw, crops, flips, sample_ids):
        ids = scalars(sample_ids)
        maps, present = self.guide.read(ids, crops, flips, hw, self.current_epoch())
        return self.draw(hw, ids, maps=maps, present=present)
