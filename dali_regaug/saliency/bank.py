"""``SaliencyBank``: one low-resolution saliency map per dataset sample, written by the
trainer and read by the pipeline.

Maps are ``S x S`` float16 over the whole **original** image (normalized coordinates), so
a map computed on one random crop serves any later crop of the same sample. Each sample
also has a version: how many updates it has had, 0 for none yet (the operators then fall
back to their unguided form).

Storage is one POSIX shared-memory segment (header, versions, maps), so that DALI's CPU
operators and torch read it without copies (``numpy`` and ``torch.from_numpy`` views), and
other processes on the node attach to it by name (:meth:`SaliencyBank.attach`).

Concurrency: updates and reads take the bank's lock, a thread lock plus an ``flock`` on the
segment's file for other processes, for the few microseconds of copying a batch of maps, so a
read never sees half of an update. Staleness: the pipeline runs ahead of the trainer by
its prefetch depth, so the maps a batch is augmented with are at least that many training
steps old (``prefetch_queue_depth``, 2 by default), and one epoch old for samples seen
once per epoch.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
from multiprocessing import shared_memory
from typing import NamedTuple

import numpy as np

from dali_regaug import validate
from dali_regaug.ops import regions
from dali_regaug.saliency import warp

_MAGIC = 0x5341_4C42  # "SALB"
_HEADER = 64  # bytes: magic, n, size as int64, then padding


class Update(NamedTuple):
    """Maps resampled onto the bank's grid, ready to blend: per sample its id, the area
    average over each cell of what the view saw (``value``) and the fraction of each cell
    it saw (``covered``), both ``(k, S, S)`` float32."""

    ids: np.ndarray
    value: np.ndarray
    covered: np.ndarray


class SaliencyBank:
    """Shared saliency maps for ``n`` samples at ``size x size``; :attr:`name` is what
    other processes :meth:`attach` with.

    Parameters
    ----------
    n : int
        Samples in the dataset (``sample_id`` ranges over ``[0, n)``).
    size : int
        Side ``S`` of each map, 4 to 64 (KeepAugment scores regions on a coarse grid;
        16 or 32 is typical).
    mode : {"ema", "overwrite"}
        How an update blends into the stored map: ``stored += a (new - stored)`` with
        ``a = momentum * covered`` (``"ema"``) or ``a = covered`` (``"overwrite"``), where
        ``covered`` is the fraction of a cell the update saw. A sample's first update
        always overwrites what it covers.
    momentum : float
        Weight of a new map in ``"ema"`` mode, in ``(0, 1]``.
    """

    def __init__(self, n, size=16, *, mode="ema", momentum=0.5, _attach=None):
        if mode not in ("ema", "overwrite"):
            raise ValueError(f"mode={mode!r}: expected 'ema' or 'overwrite'")
        self.mode = mode
        self.momentum = validate.number("momentum", momentum, 0.0, 1.0)
        if self.momentum == 0:
            raise ValueError("momentum=0: a bank that never changes; expected (0, 1]")
        if _attach is None:
            n = validate.number("n", n, 1, 2**31 - 1, integer=True)
            size = validate.number("size", size, 4, 64, integer=True)
            self._shm = shared_memory.SharedMemory(create=True, size=_bytes(n, size))
            self.name, buf = self._shm.name, self._shm.buf
            np.ndarray(3, np.int64, buf)[:] = _MAGIC, n, size
        else:  # mapped directly: Python < 3.13 would have this process's resource tracker
            self._shm, self.name = None, _attach  # unlink the segment when it exits
            try:
                with open(os.path.join("/dev/shm", _attach.lstrip("/")), "r+b") as f:
                    buf = self._mmap = mmap.mmap(f.fileno(), 0)
            except FileNotFoundError:
                raise FileNotFoundError(f"no SaliencyBank named {_attach!r} on this node "
                                        f"(closed by its creator?)") from None
            header = np.ndarray(3, np.int64, buf)
            if header[0] != _MAGIC:
                raise ValueError(f"shared memory {_attach!r} is not a SaliencyBank")
            n, size = int(header[1]), int(header[2])
        self.n, self.size = n, size
        self.version = np.ndarray(n, np.int64, buf, _HEADER)
        self.maps = np.ndarray((n, size, size), np.float16, buf, _HEADER + 8 * n)
        self._thread_lock = threading.Lock()
        # the segment's own file carries the cross-process lock: nothing else to clean up
        self._lock_file = open(os.path.join("/dev/shm", self.name.lstrip("/")), "rb")
        self.skipped = 0  # maps not written because they held NaN or inf

    @classmethod
    def attach(cls, name, **kwargs) -> SaliencyBank:
        """The bank another process created, by :attr:`name` (same node)."""
        return cls(None, _attach=name, **kwargs)

    def __reduce__(self):  # pickled (e.g. to DataLoader or spawn workers) as an attachment
        return _attach, (self.name, self.mode, self.momentum)

    def fill_ratio(self) -> float:
        """Fraction of samples with a map."""
        self._open()
        return float((self.version > 0).mean())

    def update(self, sample_ids, maps, crops, flips, visible=None):
        """Blend maps computed on training views into the bank: :meth:`apply` of
        :meth:`prepare`.

        Parameters
        ----------
        sample_ids : (B,) int array or tensor
        maps : (B, h, w) float array or tensor
            Saliency on each view (any resolution; the producers give it at the view's).
        crops : (B, 4) float
            The pipeline's ``crop`` output: ``(y0, x0, y1, x1)`` of each view, as fractions
            of the original image.
        flips : (B,) int or bool
            The pipeline's ``flip`` output (1: the view is mirrored).
        visible : (B, h, w) bool, optional
            False on pixels the view had erased; they update nothing.

        Samples whose map holds NaN, inf or a value beyond float16's range (the bank's
        type, where it would become inf) are skipped and counted in :attr:`skipped` (an AMP
        step with an overflowing loss scale gives such gradients). An id repeated in the
        batch is updated once, with its first map.
        """
        self.apply(self.prepare(sample_ids, maps, crops, flips, visible))

    def prepare(self, sample_ids, maps, crops, flips, visible=None) -> Update:
        """The update of :meth:`update` on the bank's grid, without touching the bank: what
        the ranks of a multi-node run exchange (:mod:`dali_regaug.saliency.shared`)."""
        ids, maps = self._ids(sample_ids), _float_maps(maps)
        if len(maps) != len(ids):
            raise ValueError(f"maps has {len(maps)} maps for {len(ids)} sample_ids")
        vis = np.ones(maps.shape, bool) if visible is None else _numpy(visible).astype(bool)
        if vis.shape != maps.shape:
            raise ValueError(f"visible has shape {vis.shape}; expected the maps' {maps.shape}")
        crops, flips = _views(crops, flips, len(ids))
        finite = (np.abs(maps) <= np.finfo(np.float16).max).all((1, 2))  # False for NaN
        self.skipped += int((~finite).sum())
        rows, cols = warp.matrices(crops[finite], flips[finite], maps.shape[1:], self.size)
        value, covered = warp.to_bank(np, rows, cols, maps[finite].astype(np.float64),
                                      vis[finite].astype(np.float64))
        return Update(ids[finite], value.astype(np.float32), covered.astype(np.float32))

    def apply(self, update: Update):
        """Blend a prepared update (or several, concatenated) into the bank; an id given more
        than once takes its first map."""
        ids, first = np.unique(update.ids, return_index=True)
        value = update.value[first].astype(np.float64)
        covered = update.covered[first].astype(np.float64)
        with self._locked():
            old = self.maps[ids].astype(np.float64)
            fresh = (self.version[ids] == 0)[:, None, None]
            rate = np.where(fresh | (self.mode == "overwrite"), 1.0, self.momentum)
            self.maps[ids] = old + np.clip(rate * covered, 0, 1) * (value - old)
            self.version[ids] += 1

    def read(self, sample_ids, crops, flips, view_hw, *, grid=False):
        """Each sample's map warped into its view.

        Parameters
        ----------
        sample_ids, crops, flips
            As for :meth:`update`.
        view_hw : (int, int)
            The views' height and width in pixels.
        grid : bool
            At the resolution the guided samplers score at (the cells of
            :func:`dali_regaug.ops.regions.edges`) instead of per pixel.

        Returns
        -------
        maps : (B, h, w) float32 ndarray
            Zero for samples without a map.
        present : (B,) bool ndarray
            Which samples have a map.
        """
        ids = self._ids(sample_ids)
        crops, flips = _views(crops, flips, len(ids))
        with self._locked():
            stored, version = self.maps[ids].astype(np.float32), self.version[ids].copy()
        edges = tuple(regions.edges(n) for n in view_hw) if grid else None
        # float32 throughout (the maps are float16): half the memory of float64
        rows, cols = warp.matrices(crops, flips, view_hw, self.size, edges, np.float32)
        return warp.to_view(np, rows, cols, stored), version > 0

    def state_dict(self) -> dict:
        """Maps and versions, to save with a training checkpoint."""
        with self._locked():
            return {"maps": self.maps.copy(), "version": self.version.copy()}

    def load_state_dict(self, state):
        maps, version = np.asarray(state["maps"]), np.asarray(state["version"])
        if maps.shape != self.maps.shape or version.shape != self.version.shape:
            raise ValueError(f"checkpoint bank holds {maps.shape} maps; this bank "
                             f"{self.maps.shape}")
        with self._locked():
            self.maps[:], self.version[:] = maps, version

    def close(self):
        """Release the segment (the creating process also removes it); again: nothing."""
        if self.maps is None:
            return
        self.version = self.maps = None
        self._lock_file.close()
        if self._shm is None:
            self._mmap.close()
        else:
            self._shm.close()
            self._shm.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ids(self, sample_ids):
        ids = _numpy(sample_ids).reshape(-1)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"sample_ids must be integers, got {ids.dtype}")
        bad = (ids < 0) | (ids >= self.n)
        if bad.any():
            raise IndexError(f"sample_ids {ids[bad][:5].tolist()} out of range [0, {self.n}): "
                             f"the bank has fewer samples than the dataset")
        return ids.astype(np.int64)

    def _locked(self):
        self._open()
        return _Lock(self._thread_lock, self._lock_file)

    def _open(self):
        if self.maps is None:
            raise RuntimeError(f"SaliencyBank {self.name!r} is closed (close it only after "
                               f"the pipelines that read it are gone)")


class _Lock:
    """The thread lock, then an exclusive ``flock`` for other processes."""

    def __init__(self, thread_lock, file):
        self.thread_lock, self.file = thread_lock, file

    def __enter__(self):
        self.thread_lock.acquire()
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX)
        except BaseException:
            self.thread_lock.release()  # never leave the thread lock held
            raise

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.thread_lock.release()


def _attach(name, mode, momentum):
    return SaliencyBank.attach(name, mode=mode, momentum=momentum)


def _bytes(n, size):
    return _HEADER + 8 * n + 2 * n * size * size


def _numpy(x) -> np.ndarray:
    """A NumPy array from an array, a torch tensor (any device) or a DALI TensorList."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "as_array"):
        x = x.as_array()
    return np.asarray(x)


def _float_maps(maps) -> np.ndarray:
    m = _numpy(maps)
    if m.ndim != 3 or m.dtype.kind != "f":
        raise ValueError(f"maps must be (B, h, w) floating point, got {m.dtype} {m.shape}")
    return m.astype(np.float32)


def _views(crops, flips, n):
    crops = _numpy(crops).astype(np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
    flips = _numpy(flips).reshape(-1).astype(bool)
    if len(crops) != n or len(flips) != n:
        raise ValueError(f"{len(crops)} crops and {len(flips)} flips for {n} sample_ids")
    if not ((crops >= 0) & (crops <= 1)).all() or \
            not (crops[:, 2:] > crops[:, :2]).all():
        raise ValueError("crops must be (y0, x0, y1, x1) fractions with y0 < y1 and x0 < x1 "
                         "inside [0, 1]")
    return crops, flips
