"""What every operator shares: sample, then apply.

An operator is configured once (its ``ARGS``, :class:`dali_regaug.declare.Arg`, check the
arguments there) and then used in two pure steps, as in kornia.augmentation:

* ``sample(hw, keys, prob, view)``: host-side, vectorized over the batch, returns one
  parameter record per sample (a NumPy structured array, the same bytes the kernel reads);
  ``view`` carries the saliency of guided placements (:mod:`dali_regaug.ops.placement`);
* ``apply(images, params)``: the CPU kernels (``kernels/cpu``) for host arrays, one kernel
  launch for CuPy arrays (the emulator's with ``backend="emulator"``, the NumPy reference
  with ``backend="numpy"``); torch tensors are taken through DLPack.

``draw`` adds the state: per-sample keys from the seed (or ``sample_ids``), the epoch's
probability and the placement's view. ``sample_named`` and ``apply_batch`` are what the
DALI adapter (:mod:`dali_regaug.adapter`) runs, with inputs by name.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from dali_regaug import batch as batch_mod
from dali_regaug import fill as fill_mod
from dali_regaug import declare, launch, rng, schedule, validate
from dali_regaug.declare import Arg
from dali_regaug.kernels import DTYPES, OPS
from dali_regaug.ops import placement as placement_mod


def prob_arg(default, meaning="chance to apply it to a sample, or an epoch schedule "
                              "(dali_regaug.schedule.Linear)") -> Arg:
    return Arg("prob", default, meaning, "prob", per_sample=True)


FILL_MEANING = "what dropped pixels become: a number, one per channel, 'random' (per-pixel " \
               "noise, U{0..255} for uint8 and N(0, 1) for float) or 'region'"


class Op:
    """What every operator shares: arguments checked by ``ARGS``, keys from the seed (or
    ``sample_ids``), the probability schedule and epoch, the placement, and the DALI bodies.

    Subclasses set ``kernel``, ``params_dtype`` (or in ``setup``) and ``ARGS``, and define
    ``sample``.
    """

    kernel: str
    params_dtype: np.dtype
    ARGS: tuple = ()
    operator = None  # the declaration that built it, if any

    def __init__(self, *, layout="HWC", seed=None, backend=None, placement=None, **kwargs):
        self.__dict__.update(declare.values(type(self).__name__, self.ARGS, kwargs))
        self.layout = validate.layout(layout)
        seed = validate.seed(seed)
        self.keys = rng.KeyStream(rng.random_seed() if seed is None else seed)
        if backend not in (None, "numpy", "emulator"):
            raise ValueError(f"backend={backend!r}: expected None, 'numpy' or 'emulator'")
        self.backend = backend
        self.placement = placement if placement is not None else placement_mod.Uniform()
        self.epoch = 0
        self.epoch_length = None  # batches per epoch, when the epoch follows the batch count
        self.epoch_driven = False  # set_epoch or set_epoch_length was called
        self.epoch_samples = None  # asked for the samples per epoch (the schedule warning)
        self._drawn = 0
        self.label = None  # its name in the pipeline (dali_regaug.registry)
        self._buffers = {}  # outputs of the DALI bodies, one buffer per device (_workspace)
        self.setup()

    def setup(self) -> None:
        """Checks across arguments and derived fields, after the arguments are set."""

    @property
    def name(self) -> str:
        """The pipeline's name for it (registry), or its operator's."""
        if self.label is not None:
            return self.label
        return self.operator.name if self.operator is not None else type(self).__name__

    def sample(self, hw: np.ndarray, keys: np.ndarray, prob, view=None) -> np.ndarray:
        """Host-side, vectorized: one parameter record per sample. ``prob`` is a number or
        one per sample; ``view`` the placement's saliency (None when unguided)."""
        raise NotImplementedError

    def draw(self, hw: np.ndarray, sample_ids=None, inputs=None, *, view=None) -> np.ndarray:
        """Sample the next batch: keys from the stream, probability from the epoch (or per
        sample from ``inputs["prob"]``), the placement's view from ``inputs`` (or ``view``
        itself: maps the trainer has at hand)."""
        inputs = inputs or {}
        hw = validate.sizes(hw)
        epoch = self.current_epoch()
        self._check_driven(len(hw))
        prob = inputs["prob"] if "prob" in inputs else self.prob(epoch)
        keys = self.keys.next(len(hw), sample_ids)
        if view is None:
            view = self.placement.view(inputs, hw, epoch, sample_ids)
        if view is not None and view.hw is None:
            view = view._replace(hw=hw)  # the maps cover the images, at any resolution
        return self._per_sample(inputs).sample(hw, keys, prob, view,
                                               **self.sample_inputs(inputs))

    def sample_inputs(self, inputs) -> dict:
        """Keyword inputs of :meth:`sample` besides the view (detection: the boxes)."""
        return {}

    def _per_sample(self, inputs):
        """This operator, or a copy whose per-sample arguments hold the batch's values."""
        if not inputs:
            return self
        given = {a.name: inputs[a.name] for a in self.ARGS
                 if a.per_sample and a.name != "prob" and a.name in inputs}
        if not given:
            return self
        op = copy.copy(self)  # shares the key stream: the draws advance it as usual
        for name, values in given.items():
            setattr(op, name, values)
        return op

    def current_epoch(self) -> int:
        """The epoch of the next batch sampled."""
        if self.epoch_length:
            return self.epoch + self.keys.batches // self.epoch_length
        return self.epoch

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the batches sampled from now on; with ``epoch_length`` set, the
        epoch of batch 0, later batches counting on from it."""
        self.epoch = validate.number("epoch", epoch, 0, None, integer=True)
        self.epoch_driven = True

    def _check_driven(self, n: int) -> None:
        """Warn once when a schedule is never driven: past its first epoch's worth of
        samples, no ``set_epoch`` was ever called, so the probability stays at epoch 0's."""
        self._drawn += n
        if self.epoch_driven or isinstance(self.prob, schedule.Constant) or \
                self.epoch_samples is None:
            return
        epoch = self.epoch_samples.get()
        if epoch is None or self._drawn <= epoch:
            return
        self.epoch_driven = True  # once
        warnings.warn(f"{self.name}: prob={self.prob!r} is an epoch schedule, but more than "
                      f"an epoch ({epoch} samples) went by at epoch 0: call "
                      f"dali_regaug.set_epoch(pipe, epoch) each epoch (dali_regaug.torch."
                      f"Loader does), or the probability stays {self.prob(0)}", stacklevel=2)

    def state_dict(self, batches: int | None = None) -> dict:
        """Keys and epoch now, or as they were after the first ``batches`` batches."""
        return {"keys": self.keys.state_dict(batches), "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.keys.load_state_dict(state["keys"])
        self.epoch = int(state["epoch"])
        self.epoch_driven = True

    def records(self, params, count: int | None = None):
        """Records of this operator from per-sample record bytes (or records already),
        ``count`` of them when given; another operator's records are refused."""
        recs = batch_mod.records(params, self.params_dtype)
        if isinstance(recs, np.ndarray) and recs.dtype != self.params_dtype:
            raise TypeError(f"{self.name}: params are records of another operator "
                            f"({recs.dtype.names}); expected this one's {self.params_dtype.names}")
        size = self.params_dtype.itemsize
        if not isinstance(recs, np.ndarray) and \
                {(r.nbytes, r.dtype) for r in recs} - {(size, np.dtype(np.uint8))}:
            for i, r in enumerate(recs):  # device bytes: their sizes are host metadata
                if r.nbytes != size or np.dtype(r.dtype) != np.uint8:
                    raise TypeError(f"{self.name}: the record bytes of sample {i} are "
                                    f"{r.nbytes} {np.dtype(r.dtype)}; this operator's records "
                                    f"are {size} uint8")
        if count is not None and len(recs) != count:
            raise ValueError(f"{self.name}: {len(recs)} records for {count} images: one per "
                             f"image, in the batch's order")
        return recs

    def explain(self, params, hw) -> list[str]:
        """One line per sample saying what its record does, for people
        (``dali-regaug preview --show-params``)."""
        names = [n for n in params.dtype.names if n not in ("key", "pad")]
        return [", ".join(f"{n}={r[n].tolist()}" for n in names) for r in params]

    def hidden(self, params, h: int, w: int) -> np.ndarray:
        """``(G, h, w)`` bool (broadcastable): the pixels that no longer show the sample's
        own image under records ``params`` (for saliency's ``visible``)."""
        raise NotImplementedError

    # -- DALI bodies (dali_regaug.adapter), inputs by name -------------------------------------
    def sample_named(self, named: dict):
        """The sampler: ``named`` holds ``shapes`` and the host inputs by name; returns the
        records and the other sampled outputs by name."""
        hw = self.hw_of(named)
        recs = self.draw(hw, self.ids_of(named), named)
        return recs, self.sampled(recs, hw, named)

    def settings(self, channels, dtype) -> list:
        """Per sample, the float32 settings of the CPU kernel node
        (:mod:`dali_regaug.kernels.cpu.entry`): the kernel, the fill mode, 1 for HWC, the
        dtype code, then the fill per channel (checked against ``dtype``)."""
        dtype, fill = np.dtype(dtype), getattr(self, "fill", None)  # the composite has none
        head = [OPS.index(self.kernel), 0 if fill is None else fill.mode,
                self.layout == "HWC", list(DTYPES).index(dtype.name)]
        made = {}
        for c in set(channels):
            batch_mod.channels(c, "images", self.layout)
            values = () if fill is None else fill_mod.channel_values(fill, c, dtype)
            made[c] = np.concatenate([head, values]).astype(np.float32)
        return [made[c] for c in channels]

    def hw_of(self, named) -> np.ndarray:
        """``(N, 2)`` heights and widths from the images' shapes in ``named``."""
        return validate.image_shapes(named["shapes"], self.layout)

    @staticmethod
    def ids_of(named):
        ids = named.get("sample_ids")
        return None if ids is None else batch_mod.scalars(ids)

    def sampled(self, recs, hw, named) -> dict:
        """Sampled outputs besides the records (mixing: ``lam``)."""
        return {}

    # DALI copies a python_function's outputs before it calls the function again (on the
    # same stream), so the bodies write into one buffer per device reused across batches:
    # fresh host pages cost more than the fill itself, and on a GPU it bounds what the
    # operator holds to one batch of outputs instead of CuPy's pool growing with the batches
    # DALI keeps in flight.
    def _workspace(self, nbytes: int, backend=None):
        key = "host" if backend is None else backend.device_key()
        buf = self._buffers.get(key)
        if buf is None or buf.nbytes < nbytes:
            self._buffers.pop(key, None)  # the old one goes before the new one comes
            self._buffers[key] = buf = (np.empty(nbytes, np.uint8) if backend is None
                                        else backend.empty(nbytes))
        return buf


class MaskOp(Op):
    """A region operator that replaces masked pixels with a fill; subclasses also define
    ``mask``."""

    def mask(self, params: np.ndarray, h: int, w: int):
        """NumPy reference: ``(drop, regions)`` for samples of one shape, broadcastable to
        ``(G, H, W)``; ``regions`` only when the fill needs it."""
        raise NotImplementedError

    def dropped(self, params: np.ndarray, h: int, w: int):
        """What the NumPy reference fills: :meth:`mask`, or for sparse operators sorted flat
        pixel indices and their region codes (see :func:`dali_regaug.fill.apply`)."""
        return self.mask(params, h, w)

    def hidden(self, params, h, w):
        return self.mask(params, h, w)[0]

    def apply(self, images, params, *, out=None, backend=None, workspace=None,
              **launch_options):
        """Apply sampled ``params`` to ``images``.

        Parameters
        ----------
        images : list of arrays or array
            NumPy arrays take the CPU kernels (the emulator's with ``backend="emulator"``,
            the NumPy reference with ``backend="numpy"``); CuPy arrays take one kernel launch
            on the current stream; torch tensors (CPU or CUDA) are read through DLPack and
            the result is given back as tensors.
        params : structured ndarray or list of arrays
            Records from :meth:`sample` / :meth:`draw`, or per-sample record bytes.
        out : array, optional
            One array shaped as the stacked batch to write into: a reused buffer, or
            ``images`` itself to erase in place (only the masked pixels are then written).
        backend : {None, "numpy", "emulator"} or a launch backend
        workspace : callable, optional
            ``workspace(nbytes, backend)`` gives a reused buffer for the output, on the
            images' device (the DALI bodies: DALI copies their outputs).
        **launch_options
            ``block``, ``max_grid_x``, ``index`` for :func:`dali_regaug.launch.launch`.
        """
        images, back = batch_mod.from_torch(images)
        out = batch_mod.from_torch(out, written=True)[0]
        be = launch.backend_for(images, backend if backend is not None else self.backend)
        b = batch_mod.describe(images, self.layout)
        if not len(b.arrays):
            return back(images)
        params = self.records(params, len(b.arrays))
        if be is not None:
            values = fill_mod.channel_values(self.fill, b.c, b.dtype)
            return back(launch.launch(self.kernel, b, params, layout=self.layout, backend=be,
                                      args=(np.int32(self.fill.mode), values), out=out,
                                      workspace=launch.workspace_on(workspace, be),
                                      **launch_options))
        return back(self._apply_numpy(b, params, out, workspace))

    def _apply_numpy(self, b, params, out=None, workspace=None):
        groups = batch_mod.shape_groups(b.arrays)
        targets = [batch_mod.check_out(out, b.arrays)] if out is not None else \
            batch_mod.group_buffers(groups, workspace)[0]
        results = []
        for (idx, x), target in zip(groups, targets):
            p = params[idx]
            drop, regions = self.dropped(p, int(b.h[idx[0]]), int(b.w[idx[0]]))
            results.append(fill_mod.apply(x, drop, self.fill, self.layout, p["key"], regions,
                                          target))
        return batch_mod.ungroup(groups, results, b.stacked)

    def apply_batch(self, images, params, partners=None):
        """The applying DALI body, on the images' device: images and records (or their
        bytes) in, images out."""
        if not len(images):
            return []
        return list(self.apply(list(images), params, workspace=self._workspace))
