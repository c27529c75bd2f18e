"""Where an operator puts its regions: uniformly, or guided by saliency.

A placement strategy is given to an operator (``Cutout(..., placement=BelowQuantile(...))``);
the operator draws its unguided placement and hands it to the strategy, which may replace
it for the samples that have a saliency map. The strategies:

* :class:`Uniform`: the operator's own placement (the papers' unguided operators);
* :class:`BelowQuantile` and :class:`AboveQuantile`: KeepAugment's selective cut and paste
  (Gong et al. 2021, Sec. 3.1), a region drawn uniformly among the candidates whose
  importance is below (cut) or above (paste) the ``tau``-quantile of all candidates';
* :class:`NearPeak`: CAM-based Random Erasing (Oh & Lee 2023), a region centred on a pixel
  whose map is at least ``threshold`` times the view's maximum.

Guided draws come from their own random stream, so a sample without a map (or any sample
before ``start_epoch``) gets exactly what the unguided operator would have given it.
Scoring and the threshold are in :mod:`dali_regaug.ops.regions`; the maps come from a
saliency bank (:class:`dali_regaug.saliency.SaliencyBank`), read in each sample's view.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dali_regaug import declare, rng
from dali_regaug.declare import REQUIRED, Arg, Port
from dali_regaug.ops import regions


def _is_bank(name, value, out):
    if value is not None and not (callable(getattr(value, "read", None)) and
                                  hasattr(value, "n")):
        raise TypeError(f"{name} must be a dali_regaug.saliency.SaliencyBank, got "
                        f"{type(value).__name__}")


BANK = Arg("bank", REQUIRED, "the saliency maps, written by the trainer "
           "(dali_regaug.saliency.SaliencyBank); None only for the trainer-side mode "
           "(dali_regaug.saliency.step), which passes each batch's maps", "object",
           check=_is_bank)
START_EPOCH = Arg("start_epoch", 0, "unguided before this epoch; also unguided for samples "
                  "with no map yet", "int", 0)
VIEWS = (Port("sample_ids", "CPU int64 id per sample (the pipeline's sample_id): which map of "
              "the bank to read", keyword=True),
         Port("crops", "CPU crop window per sample (the pipeline's crop): where the view lies "
              "in the map", keyword=True),
         Port("flips", "CPU flip flag per sample (the pipeline's flip)", keyword=True))


class View(NamedTuple):
    """Each sample's map over its view (a list, or one array; any resolution, the bank gives
    the scoring grid's), whether it has one, and each view's height and width (``None``: the maps'
    own shapes, maps at pixel resolution)."""

    maps: list
    present: np.ndarray
    hw: np.ndarray | None = None

    def rows(self, idx) -> View:
        maps = self.maps[idx] if isinstance(self.maps, np.ndarray) else \
            [self.maps[i] for i in idx]
        return View(maps, self.present[idx], None if self.hw is None else self.hw[idx])

    def sizes(self) -> np.ndarray:
        """``(B, 2)`` view heights and widths."""
        return self.map_shapes() if self.hw is None else np.asarray(self.hw).reshape(-1, 2)

    def map_shapes(self) -> np.ndarray:
        """``(B, 2)`` each map's height and width."""
        if isinstance(self.maps, np.ndarray):
            return np.broadcast_to(self.maps.shape[1:], (len(self.maps), 2))
        return np.array([np.shape(m) for m in self.maps]).reshape(-1, 2)


class Uniform:
    """The operator's own placement."""

    ARGS: tuple = ()
    INPUTS: tuple = ()

    def view(self, inputs, hw, epoch, sample_ids) -> View | None:
        return None

    def centres(self, cy, cx, view, region_hw, keys, mask=None):
        """``(cy, cx)`` of regions of ``region_hw`` ``(B, 2)``: those drawn uniformly, or
        the guided ones for the samples of ``mask`` with a map (changed in place)."""
        return cy, cx

    def corners(self, y0, x0, view, eh, ew, keys, done=0):
        """``(y0, x0)`` ``(B, count, attempts)`` of Random Erasing's attempts of sizes
        ``eh, ew``, ``done`` attempts per region having come before."""
        return y0, x0


class _Guided(Uniform):
    INPUTS = VIEWS

    def __init__(self, **kwargs):
        self.__dict__.update(declare.values(type(self).__name__, self.ARGS, kwargs))

    def view(self, inputs, hw, epoch, sample_ids):
        """The maps of the samples ``sample_ids`` in their views (``inputs["crops"]``,
        ``inputs["flips"]``), none before ``start_epoch``."""
        n = len(hw)
        maps, present = [None] * n, np.zeros(n, bool)
        if epoch < self.start_epoch:
            return View(maps, present)
        crops, flips = (_per_sample(inputs[k], k, n, size) for k, size in (("crops", 4),
                                                                           ("flips", 1)))
        flips = flips.reshape(n)
        groups = by_shape(hw)
        for idx in groups:
            view, has = self.bank.read(sample_ids[idx], crops[idx], flips[idx],
                                       tuple(hw[idx[0]]), grid=True)
            present[idx] = has
            if len(groups) == 1:
                maps = view  # one array, not a list of samples
            else:
                for j, i in enumerate(idx):
                    maps[i] = view[j]
        return View(maps, present, np.asarray(hw).reshape(n, 2))


class Quantile(_Guided):
    """KeepAugment's placement: among the candidate regions below (a cut) or above
    (``above``: a paste) the ``tau``-quantile of the candidates' importance."""

    above = False
    ARGS = (Arg("tau", 0.6, "quantile of the candidate regions' saliency that separates the "
                "cut-able from the kept (KeepAugment's adaptive threshold)", "float", 0.0, 1.0),
            START_EPOCH, BANK)

    def centres(self, cy, cx, view, region_hw, keys, mask=None):
        guided = _guided(view, mask)
        if guided is None:
            return cy, cx
        g = np.flatnonzero(guided)
        shape = cy[g].shape
        region_hw = np.asarray(region_hw).reshape(-1, 2)[g]

        def allowed(q, idx, h, w):
            s = regions.scores(q, region_hw[idx], h, w)
            return regions.eligible(s, regions.areas(h, w), self.tau, above=self.above)

        new = _pick(view.rows(g), guide_uniforms(keys, guided,
                                                 int(np.prod(shape[1:], dtype=int))), allowed)
        cy[g], cx[g] = (c.reshape(shape) for c in new)
        return cy, cx


class BelowQuantile(Quantile):
    """KeepAugment's selective cut: regions where the image matters least."""


class AboveQuantile(Quantile):
    """KeepAugment's selective paste: regions where the image matters most."""

    above = True


class NearPeak(_Guided):
    """CAM-based Random Erasing's placement: regions centred on pixels whose map is at least
    ``threshold`` times the view's maximum (any pixel of an all-zero map)."""

    ARGS = (Arg("threshold", 0.5, "the vicinity of the object: pixels whose map is at least "
                "threshold times the view's maximum; each region is centred on one of them",
                "float", 0.0, 1.0), START_EPOCH, BANK)

    def corners(self, y0, x0, view, eh, ew, keys, done=0):
        guided = _guided(view, None)
        if guided is None:
            return y0, x0
        g = np.flatnonzero(guided)
        u = guide_uniforms(keys, guided, eh[0].size, offset=done * eh.shape[1])
        cy, cx = _pick(view.rows(g), u, lambda q, idx, h, w: q >= np.ceil(
            self.threshold * q.max((1, 2), keepdims=True)))
        y0[g] = cy.reshape(eh[g].shape) - eh[g] // 2
        x0[g] = cx.reshape(ew[g].shape) - ew[g] // 2
        return y0, x0


def _per_sample(batch, name, n, size):
    """``(n, size)`` float64 from a DALI batch of ``size`` numbers per sample; a sample
    with another count is named."""
    try:  # one conversion for a regular batch (the common case)
        flat = np.asarray(batch, np.float64)
        if flat.size == n * size and len(flat) == n:
            return flat.reshape(n, size)
    except ValueError:
        pass  # ragged: name the sample below
    for i, v in enumerate(batch):
        if np.size(v) != size:
            raise ValueError(f"{name}: sample {i} has {np.size(v)} values; expected {size} "
                             f"(the pipeline's {name[:-1]} output)")
    return np.asarray([np.ravel(v) for v in batch], np.float64).reshape(n, size)


def _guided(view, mask):
    """The samples to place by saliency (a bool array), or None for none."""
    if view is None:
        return None
    guided = view.present if mask is None else view.present & mask
    return guided if guided.any() else None


def _pick(view, u, allowed):
    """Per group of one view size and map shape: the maps on the scoring grid, quantized;
    ``allowed(q, idx, h, w)`` marks the cells, and :func:`regions.pick` draws a pixel among
    theirs; ``(cy, cx)``, each ``(B, m)``."""
    u = np.asarray(u).reshape(len(view.maps), -1)
    cy, cx = np.zeros(u.shape, np.int64), np.zeros(u.shape, np.int64)
    hw = view.sizes()
    stacked = isinstance(view.maps, np.ndarray)
    for idx in by_shape(np.concatenate([hw, view.map_shapes()], 1)):
        h, w = (int(v) for v in hw[idx[0]])
        maps = view.maps[idx] if stacked else np.stack([view.maps[i] for i in idx])
        q = regions.quantize(regions.to_grid(maps, h, w))
        cy[idx], cx[idx] = regions.pick(allowed(q, idx, h, w), h, w, u[idx])
    return cy, cx


def by_shape(hw) -> list:
    """Index arrays of the samples of each distinct ``(h, w)`` (or other row of sizes; one
    group for a fixed-size training batch)."""
    hw = np.asarray(hw).reshape(len(hw), -1)
    if not len(hw):
        return []
    if (hw == hw[:1]).all():
        return [np.arange(len(hw))]
    _, inverse = np.unique(hw, axis=0, return_inverse=True)
    return [np.flatnonzero(inverse.reshape(-1) == g) for g in range(inverse.max() + 1)]


def guide_uniforms(keys, present, count, offset=0):
    """``(k, count)`` uniforms for the guided samples, from their own stream (after the
    first ``offset`` of it)."""
    return rng.uniform(keys[present], count, stream=rng.STREAM_GUIDE, offset=offset)
