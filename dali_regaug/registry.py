"""The region operators of each pipeline, for epoch schedules and resumable state.

The sampler runs ahead of the consumer by the pipeline's prefetch depth, so an epoch set
with :func:`set_epoch` reaches the batches sampled after the call, and a saved state
includes batches already prefetched. :func:`set_epoch_length` and ``state_dict(pipe,
batches)`` account for both; :class:`dali_regaug.loader.Loader` uses them.
"""

from __future__ import annotations

import weakref

_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipeline -> {name: op}


def ops(pipe) -> dict:
    """``{name: operator}`` of the region operators defined in ``pipe`` (kept here, not on
    DALI's pipeline object, and gone with the pipeline)."""
    return _TABLES.setdefault(pipe, {})


def register(op, name=None) -> str:
    """Record ``op`` in the pipeline being defined."""
    from nvidia.dali.pipeline import Pipeline  # here, so that kernels work where DALI is absent

    pipe = Pipeline.current()
    if pipe is None:
        raise RuntimeError("dali_regaug.fn operators must be called inside a pipeline "
                           "definition (@pipeline_def or `with pipe:`)")
    table = ops(pipe)
    name = name or f"{op.operator.name if op.operator else op.kernel}_{len(table)}"
    if name in table:
        raise ValueError(f"name={name!r} is already used by another operator of this pipeline")
    table[name] = op
    op.label, op.epoch_samples = name, _EpochSamples(pipe)
    return name


class _EpochSamples:
    """The samples per epoch of ``pipe``'s readers, asked of DALI once the pipeline runs
    (for the warning of a schedule that is never driven); None when it has no reader."""

    def __init__(self, pipe):
        self.pipe, self.value = weakref.ref(pipe), False

    def get(self):
        if self.value is False:
            pipe = self.pipe()
            try:
                sizes = [int(m["epoch_size_padded"]) // max(1, int(m.get("number_of_shards", 1)))
                         for m in pipe.reader_meta().values()] if pipe is not None else []
            except RuntimeError:  # not built yet
                return None
            self.value = min(sizes) if sizes else None
        return self.value


def set_epoch(pipe, epoch: int) -> None:
    """Tell every region operator of ``pipe`` the epoch (drives probability schedules)."""
    for op in ops(pipe).values():
        op.set_epoch(epoch)


def set_epoch_length(pipe, batches: int, epoch: int = 0) -> None:
    """Make each operator's epoch follow its own batch count, ``epoch + batch // batches``,
    so that prefetched batches get the epoch they will be consumed in (as
    :class:`dali_regaug.loader.Loader` does)."""
    for op in ops(pipe).values():
        op.epoch_length = batches
        op.set_epoch(epoch)


def state_dict(pipe, batches: int | None = None) -> dict:
    """Random state (seeds, batch and visit counters) and epoch of each operator, now or as
    it was after the first ``batches`` pipeline iterations."""
    return {name: op.state_dict(batches) for name, op in ops(pipe).items()}


def load_state_dict(pipe, state: dict) -> None:
    table = ops(pipe)
    missing = set(state) ^ set(table)
    if missing:
        raise KeyError(f"state and pipeline name different operators: {sorted(missing)}")
    for name, op in table.items():
        op.load_state_dict(state[name])
