"""Counter-based randomness shared bit for bit by the host samplers, NumPy and the kernels.

Every random number is a hash of ``(key, stream, counter)`` (splitmix64's finaliser, as in
``kernels/common.cuh``), so a draw depends only on its key and position, never on the order
in which samples are processed. :class:`KeyStream` gives each sample its key: from
``(seed, batch index, position)``, or with ``sample_ids`` from ``(seed, sample_id, visits of
that id)`` so that a sample's augmentation is independent of batch size, shuffling and
sharding.
"""

from __future__ import annotations

import os
import threading
from collections import deque

import numpy as np

U64 = np.uint64
# Host streams (the samplers); the kernels' streams are records.STREAM_*.
STREAM_SAMPLER, STREAM_BATCH, STREAM_ID, STREAM_VISIT, STREAM_SEED = 8, 9, 10, 11, 12
STREAM_GAMMA = 13
STREAM_GUIDE = 14  # placements guided by saliency, apart from the unguided draws
GAMMA_ATTEMPTS = 12  # Marsaglia-Tsang accepts >= 95% per attempt: all fail with p < 1e-15


def mix64(z) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array (wrapping arithmetic); a new array."""
    return _mix64_inplace(np.array(z, dtype=U64))


def _mix64_inplace(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # wrapping is intended
        z += U64(0x9E3779B97F4A7C15)
        t = np.empty_like(z)  # one scratch array; every step works in place
        z ^= np.right_shift(z, U64(30), out=t)
        z *= U64(0xBF58476D1CE4E5B9)
        z ^= np.right_shift(z, U64(27), out=t)
        z *= U64(0x94D049BB133111EB)
        z ^= np.right_shift(z, U64(31), out=t)
        return z


def counter_hash(stream: int, counter) -> np.ndarray:
    """The key-independent half of :func:`hash3`, which callers may compute once and reuse."""
    return mix64((U64(stream) << U64(56)) | np.asarray(counter, dtype=U64))


def keyed(key, counter_hashes) -> np.ndarray:
    """The other half: :func:`hash3` from ``counter_hash(stream, counter)``, broadcasting."""
    return _mix64_inplace(np.bitwise_xor(np.asarray(key, dtype=U64), counter_hashes, dtype=U64))


def hash3(key, stream: int, counter) -> np.ndarray:
    """Hash of (key, stream, counter), broadcasting; ``counter < 2**56``."""
    return keyed(key, counter_hash(stream, counter))


def uniform(keys: np.ndarray, n: int, stream: int = STREAM_SAMPLER,
            offset: int = 0) -> np.ndarray:
    """``(len(keys), n)`` float64 uniforms in [0, 1): draw j of sample i is
    hash(key_i, offset + j), so later draws continue a sample's sequence."""
    h = hash3(np.asarray(keys, dtype=U64)[:, None], stream,
              np.arange(offset, offset + n, dtype=U64)[None, :])
    return (h >> U64(11)).astype(np.float64) * 2.0**-53


def normal_from_hash(h: np.ndarray) -> np.ndarray:
    """N(0, 1) float32 by Box-Muller, with the kernel's float32 operations in its order."""
    f32 = np.float32
    t = np.right_shift(h, U64(40))
    t += U64(1)
    u1 = t.astype(f32)
    u1 *= f32(2.0**-24)
    np.right_shift(h, U64(16), out=t)
    t &= U64(0xFFFFFF)
    u2 = t.astype(f32)
    u2 *= f32(2.0**-24)
    np.log(u1, out=u1)
    u1 *= f32(-2.0)
    np.sqrt(u1, out=u1)
    u2 *= f32(6.2831854820251465)
    np.cos(u2, out=u2)
    u1 *= u2
    return u1


def beta(keys: np.ndarray, alpha, stream: int = STREAM_GAMMA) -> np.ndarray:
    """``Beta(alpha, alpha)`` per key, as ``X / (X + Y)`` with ``X, Y ~ Gamma(alpha)``;
    ``alpha`` is one number or one per key.

    Gamma draws use Marsaglia and Tsang's method (ACM TOMS 2000) with a bounded number of
    attempts, and the ``U ** (1 / alpha)`` boost for ``alpha < 1``; ``alpha = 0`` gives 1.
    """
    keys = np.asarray(keys, dtype=U64)
    alpha = np.asarray(alpha, np.float64)
    if alpha.ndim:  # one per key: each key's draws are those of its own alpha alone
        out = np.ones(len(keys))
        on = alpha > 0
        if on.any():
            out[on] = _beta(keys[on], alpha[on], stream)
        return out
    return _beta(keys, float(alpha), stream) if alpha > 0 else np.ones(len(keys))


def _beta(keys, alpha, stream):
    """:func:`beta` for ``alpha > 0``: a number, or ``(n, 1)`` one per key."""
    per_key = np.ndim(alpha) > 0
    al = np.reshape(alpha, (-1, 1, 1)) if per_key else alpha  # broadcasts over (n, 2, attempts)
    a = np.where(al >= 1, al, al + 1)
    d = a - 1 / 3
    c = 1 / np.sqrt(9 * d)
    n = GAMMA_ATTEMPTS
    u = uniform(keys, 2 * (3 * n + 1), stream).reshape(len(keys), 2, 3 * n + 1)
    x = np.sqrt(-2 * np.log1p(-u[..., 0:n])) * np.cos(2 * np.pi * u[..., n:2 * n])
    v = (1 + c * x) ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (v > 0) & (np.log1p(-u[..., 2 * n:3 * n]) < 0.5 * x**2 + d - d * v + d * np.log(v))
    first = np.argmax(ok, axis=-1)[..., None]
    # log Gamma draws (no underflow for small alpha); if every attempt fails, v = 1 (the mode)
    per_draw = (lambda t: t[..., 0]) if per_key else (lambda t: t)  # (n, 1) against (n, 2)
    lg = np.log(per_draw(d) * np.where(ok.any(-1), np.take_along_axis(v, first, -1)[..., 0],
                                       1.0))
    small = per_draw(al < 1)
    if np.any(small):
        lg = np.where(small, lg + np.log1p(-u[..., -1]) / per_draw(al), lg)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(lg[:, 1] - lg[:, 0]))


def random_seed() -> int:
    """A fresh seed from the OS, for operators given none."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def derive_seed(seed: int, index: int) -> int:
    """A seed for the ``index``-th operator of a pipeline seeded with ``seed``."""
    return int(hash3(seed & (2**64 - 1), STREAM_SEED, index)) >> 1


class KeyStream:
    """Per-sample keys for one operator, with the state needed to resume.

    Parameters
    ----------
    seed : int
        Base seed, ``0 <= seed < 2**63``.
    """

    # Batches whose ids are remembered, so that a state can be taken as it was before the
    # batches a pipeline has prefetched but not yet handed out (see ``state_dict``).
    HISTORY = 64

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.batches = 0
        self.visits = np.zeros(0, dtype=np.int64)
        self._recent = deque(maxlen=self.HISTORY)
        self._lock = threading.Lock()

    def next(self, batch_size: int, sample_ids=None) -> np.ndarray:
        """Keys of the next batch: by position, or by ``(sample_id, visit)`` when ids are given."""
        with self._lock:
            if sample_ids is None:
                pos = (np.uint64(self.batches) << U64(24)) | np.arange(batch_size, dtype=U64)
                self.batches += 1
                self._recent.append(None)
                return hash3(self.seed, STREAM_BATCH, pos)
            ids = np.asarray(sample_ids, dtype=np.int64).reshape(-1)
            if len(ids) != batch_size:
                raise ValueError(f"sample_ids has {len(ids)} entries for a batch of {batch_size}")
            if (ids < 0).any():
                raise ValueError(f"sample_ids must be >= 0, got {ids.min()}")
            if len(ids) and ids.max() >= len(self.visits):
                grown = np.zeros(max(int(ids.max()) + 1, 2 * len(self.visits)), dtype=np.int64)
                grown[: len(self.visits)] = self.visits
                self.visits = grown
            visit = self.visits[ids] + _occurrence(ids)
            np.add.at(self.visits, ids, 1)
            self.batches += 1
            self._recent.append(ids)
            return hash3(hash3(self.seed, STREAM_ID, ids.astype(U64)), STREAM_VISIT, visit.astype(U64))

    def state_dict(self, batches: int | None = None) -> dict:
        """The state now, or as it was after the first ``batches`` batches (at most
        ``HISTORY`` batches back)."""
        with self._lock:
            back = 0 if batches is None else self.batches - int(batches)
            if not 0 <= back <= len(self._recent):
                raise ValueError(f"batches={batches}: the state is known from batch "
                                 f"{self.batches - len(self._recent)} to {self.batches}")
            visits = self.visits.copy()
            for ids in list(self._recent)[len(self._recent) - back:]:
                if ids is not None:
                    np.subtract.at(visits, ids, 1)
            return {"seed": self.seed, "batches": self.batches - back, "visits": visits}

    def load_state_dict(self, state: dict) -> None:
        with self._lock:
            self.seed = int(state["seed"])
            self.batches = int(state["batches"])
            self.visits = np.asarray(state["visits"], dtype=np.int64).copy()
            self._recent.clear()


def _occurrence(ids: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries of the batch hold the same id."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_ids)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(ids)]))
    occ = np.empty(len(ids), dtype=np.int64)
    occ[order] = np.arange(len(ids)) - first
    return occ
