"""What every masking operator shares: sample, then apply.

An operator is configured once (arguments validated there) and then used in two pure steps,
as in kornia.augmentation:

* ``sample(hw, keys, prob)``: host-side, vectorized over the batch, returns one parameter
  record per sample (a NumPy structured array, the same bytes the kernel reads);
* ``apply(images, params)``: the NumPy path for host arrays, one kernel launch for CuPy
  arrays (or for host arrays on the emulator).

``draw`` adds the state: per-sample keys from the seed (or ``sample_ids``) and the epoch's
probability. ``sample_batch``/``apply_batch`` are the two DALI ``python_function`` bodies.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import fill as fill_mod
from dali_regaug import launch, rng, schedule, validate


class Op:
    """What every operator shares: validated layout, keys from the seed (or ``sample_ids``),
    the probability schedule and epoch, and the plumbing of the DALI bodies.

    Subclasses set ``kernel`` and ``params_dtype`` and define ``sample``.
    """

    kernel: str
    params_dtype: np.dtype

    def __init__(self, *, prob, layout, seed, backend=None):
        self.layout = validate.layout(layout)
        self.prob = schedule.as_schedule(prob)
        seed = validate.seed(seed)
        self.keys = rng.KeyStream(rng.random_seed() if seed is None else seed)
        if backend not in (None, "numpy", "emulator"):
            raise ValueError(f"backend={backend!r}: expected None, 'numpy' or 'emulator'")
        self.backend = backend
        self.epoch = 0
        self.epoch_length = None  # batches per epoch, when the epoch follows the batch count
        self._buffer = None  # output of the CPU DALI bodies, reused across batches

    def sample(self, hw: np.ndarray, keys: np.ndarray, prob: float, **inputs) -> np.ndarray:
        """Host-side, vectorized: one parameter record per sample (``inputs``: per-sample
        data the placement depends on, such as boxes)."""
        raise NotImplementedError

    def draw(self, hw: np.ndarray, sample_ids=None, **inputs) -> np.ndarray:
        """Sample the next batch: keys from the stream, probability from the epoch."""
        prob = self.prob(self.current_epoch())
        keys = self.keys.next(len(hw), sample_ids)
        return self.sample(np.asarray(hw, np.int64).reshape(-1, 2), keys, prob, **inputs)

    def current_epoch(self) -> int:
        """The epoch of the next batch sampled."""
        if self.epoch_length:
            return self.epoch + self.keys.batches // self.epoch_length
        return self.epoch

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the batches sampled from now on; with ``epoch_length`` set, the
        epoch of batch 0, later batches counting on from it."""
        self.epoch = validate.number("epoch", epoch, 0, None, integer=True)

    def state_dict(self, batches: int | None = None) -> dict:
        """Keys and epoch now, or as they were after the first ``batches`` batches."""
        return {"keys": self.keys.state_dict(batches), "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.keys.load_state_dict(state["keys"])
        self.epoch = int(state["epoch"])

    def _hw(self, shapes) -> np.ndarray:
        """``(N, 2)`` heights and widths from per-sample 3-D shapes in ``self.layout``."""
        return validate.image_shapes(shapes, self.layout)

    def _draw_shapes(self, shapes, sample_ids, **inputs):
        ids = None if sample_ids is None else scalars(sample_ids)
        return self.draw(self._hw(shapes), ids, **inputs)

    def _outputs(self, recs, shapes) -> tuple:
        """What the sampling DALI body outputs: the parameter bytes (mixing adds ``lam``)."""
        return (_rows(recs),)

    def _as_records(self, params):
        """Records from per-sample parameter bytes (or records already)."""
        if isinstance(params, np.ndarray) and params.dtype.names:
            return params
        return np.stack(params).view(self.params_dtype).reshape(-1)

    # DALI copies a python_function's outputs before it calls the function again, so the CPU
    # bodies write into one buffer reused across batches: fresh pages for every batch cost
    # more than the fill itself.
    def _workspace(self, nbytes: int) -> np.ndarray:
        if self._buffer is None or self._buffer.nbytes < nbytes:
            self._buffer = np.empty(nbytes, np.uint8)
        return self._buffer


class MaskOp(Op):
    """A region operator that replaces masked pixels with a fill; subclasses also define
    ``mask``."""

    def __init__(self, *, prob, fill, layout, seed, backend=None):
        super().__init__(prob=prob, layout=layout, seed=seed, backend=backend)
        self.fill = fill_mod.parse(fill)

    def mask(self, params: np.ndarray, h: int, w: int):
        """NumPy path: ``(drop, regions)`` for samples of one shape, broadcastable to
        ``(G, H, W)``; ``regions`` only when the fill needs it."""
        raise NotImplementedError

    def dropped(self, params: np.ndarray, h: int, w: int):
        """What the NumPy path fills: :meth:`mask`, or for sparse operators sorted flat
        pixel indices and their region codes (see :func:`dali_regaug.fill.apply`)."""
        return self.mask(params, h, w)

    def apply(self, images, params: np.ndarray | list, *, out=None, backend=None,
              **launch_options):
        """Apply sampled ``params`` to ``images`` (list of arrays or a stacked array).

        Parameters
        ----------
        images : list of arrays or array
            NumPy arrays take the NumPy path (or the kernels with ``backend="emulator"``);
            CuPy arrays take one kernel launch on the current stream.
        params : structured ndarray or list of arrays
            Records from :meth:`sample` / :meth:`draw`, or per-sample device bytes.
        out : array, optional
            One array shaped as the stacked batch to write into: a reused buffer, or
            ``images`` itself to erase in place (only the masked pixels are then written).
        backend : {None, "numpy", "emulator"} or a launch backend
        **launch_options
            ``block``, ``max_grid_x``, ``index`` for :func:`dali_regaug.launch.launch`.
        """
        be = launch.backend_for(images, backend if backend is not None else self.backend)
        if be is not None:
            _, _, _, c, dtype = launch.describe(images, self.layout)
            values = fill_mod.channel_values(self.fill, c, dtype)
            return launch.launch(self.kernel, images, params, layout=self.layout, backend=be,
                                 args=(np.int32(self.fill.mode), be.to_device(values)),
                                 out=out, **launch_options)
        return self._apply_numpy(images, np.asarray(params), out=out)

    def _apply_numpy(self, images, params, reuse=False, out=None):
        """The NumPy path; ``reuse`` writes into the op's buffer (DALI bodies only)."""
        arrays, h, w, _, _ = launch.describe(images, self.layout)
        if not arrays:
            return images
        groups = shape_groups(arrays)
        targets = [launch.check_out(out, arrays)] if out is not None else \
            group_buffers(groups, self._workspace if reuse else None)[0]
        outs = [None] * len(arrays)
        for (idx, batch), target in zip(groups, targets):
            p = params[idx]
            drop, regions = self.dropped(p, int(h[idx[0]]), int(w[idx[0]]))
            res = fill_mod.apply(batch, drop, self.fill, self.layout, p["key"], regions, target)
            for j, i in enumerate(idx):
                outs[i] = res[j]
        if isinstance(images, (list, tuple)):
            return outs
        return res if len(groups) == 1 else np.stack(outs)

    # -- DALI python_function bodies ---------------------------------------------------------
    def sample_batch(self, shapes, sample_ids=None):
        """CPU op: per-sample shapes (and ids) in, per-sample parameter bytes out."""
        return _rows(self._draw_shapes(shapes, sample_ids))

    def apply_batch(self, images, params):
        """Op on the images' device: images and parameter bytes (or records) in, images out."""
        if not images:
            return []
        if launch.backend_for(images, self.backend) is not None:
            return list(self.apply(images, params))  # a kernel launch
        return self._apply_numpy(images, self._as_records(params), reuse=True)

    def run_batch(self, images, sample_ids=None):
        """CPU op sampling and applying in one step (one ``python_function`` fewer): images
        (and ids) in, images and parameter bytes out."""
        recs = self._draw_shapes([a.shape for a in images], sample_ids)
        return self.apply_batch(images, recs), _rows(recs)


def scalars(batch) -> np.ndarray:
    """One value per sample from a DALI batch of per-sample scalars."""
    return np.array([np.ravel(v)[0] for v in batch])


def _rows(recs: np.ndarray) -> list:
    """Per-sample parameter bytes, as DALI passes them between nodes."""
    return list(recs.view(np.uint8).reshape(len(recs), -1))


def shape_groups(arrays):
    """``(indices, stacked batch)`` per distinct shape; a zero-copy view when DALI's batch
    is one contiguous buffer."""
    if arrays and all(a.shape == arrays[0].shape for a in arrays):
        return [(np.arange(len(arrays)), _stack(arrays))]
    groups: dict = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.shape, []).append(i)
    return [(np.array(ix), _stack([arrays[i] for i in ix])) for ix in groups.values()]


def group_buffers(groups, workspace=None, count=1):
    """``count`` lists of arrays shaped like each group's batch, to write results into:
    views laid end to end in ``workspace(nbytes)`` (a reused uint8 buffer), or ``None``
    each (allocate) without one."""
    if workspace is None:
        return [[None] * len(groups) for _ in range(count)]
    buf, offset, views = workspace(count * sum(b.nbytes for _, b in groups)), 0, []
    for _ in range(count):
        row = []
        for _, b in groups:
            row.append(buf[offset:offset + b.nbytes].view(b.dtype).reshape(b.shape))
            offset += b.nbytes
        views.append(row)
    return views


def _stack(arrays):
    table, rows = as_rows(arrays)
    if np.array_equal(rows, np.arange(len(arrays))):
        return table
    return np.stack(arrays)


def as_rows(arrays):
    """``(table, rows)`` with ``table[rows[i]]`` equal to ``arrays[i]`` (all of one shape and
    dtype): a zero-copy, read-only view when the arrays are C-contiguous and together tile one
    stretch of memory (a DALI batch, or a batch's samples in any order, as partners are),
    else a stacked copy and ``arange``."""
    a0 = arrays[0]
    step, ptrs = a0.nbytes, np.array([a.ctypes.data for a in arrays], np.int64)
    base = int(ptrs.min())
    rows, off = np.divmod(ptrs - base, max(step, 1))
    # Every row between the lowest and highest address must be one of the arrays, so that
    # the view covers only memory they own.
    if step and not off.any() and rows.max() < len(arrays) and \
            all(a.flags.c_contiguous for a in arrays) and \
            np.array_equal(np.unique(rows), np.arange(rows.max() + 1)):
        lowest = arrays[int(np.argmin(ptrs))]
        table = np.lib.stride_tricks.as_strided(lowest, (int(rows.max()) + 1, *a0.shape),
                                                (step, *a0.strides), writeable=False)
        return table, rows
    return np.stack(arrays), np.arange(len(arrays))
