"""A PyTorch loader over a DALI pipeline, with epochs, exact resume and DDP sharding.

It wraps ``DALIGenericIterator`` and adds what a training loop expects of a
``DataLoader``: ``len``, ``set_epoch`` and ``state_dict``/``load_state_dict``. The
pipelines run on DALI's dynamic executor, so the iterator hands their output buffers to
torch through DLPack instead of copying them (GPU and CPU alike).

Exact resume needs two states as they were after the last batch handed out, although the
pipeline has already run ahead by its prefetch depth: DALI's (reader position and its random
generators, through DALI checkpoints) and the region operators' (through
:func:`dali_regaug.registry.state_dict` with the batch count). For the same reason the
operators' epoch follows their own batch count (``registry.set_epoch_length``), so that a
prefetched batch of the next epoch already gets that epoch's probability.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from dali_regaug import registry


class Targets(NamedTuple):
    """A training batch's targets: each sample's label, its partner's, and the weight of its
    own (``loss = lam * CE(labels) + (1 - lam) * CE(labels_b)``). Without a mixing operator
    ``labels_b`` is ``labels`` and ``lam`` is 1, so one loop serves every spec."""

    labels: object
    labels_b: object
    lam: object


class Loader:
    """Iterate ``(images, targets)`` over a pipeline built by ``build(checkpoint=...)``.

    For training, ``targets`` is a :class:`Targets` triple ``(labels, labels_b, lam)``
    whether the spec mixes or not (``mixed_cross_entropy(logits, *targets)``); for
    evaluation, the label tensor. With ``with_info=True`` a third item holds the other
    outputs by name (``sample_id``, ``crop``, ``flip``, and ``visible`` with a saliency
    bank).

    Parameters
    ----------
    build : callable
        ``build(checkpoint=None)`` returns a :class:`~dali_regaug.pipelines.Built` with a
        reader named ``"reader"``, such as :func:`dali_regaug.pipelines.train_pipeline`
        with its other arguments bound (see :meth:`train_loader`, :meth:`val_loader`).
    train : bool
        Drop the last partial batch (every rank then has the same ``len``); otherwise
        return every sample once per epoch.
    with_info : bool
    """

    def __init__(self, build, *, train=True, with_info=False):
        self._build, self.train, self.with_info = build, train, with_info
        self.epoch = self.first_epoch = 0
        self.position = 0  # batches handed out in this epoch
        self._setup(build(checkpoint=None))

    @classmethod
    def train_loader(cls, data, *, with_info=False, skip_corrupt=False, **kwargs):
        """A training loader over :func:`dali_regaug.pipelines.train_pipeline`; the dataset
        is read (and checked, with ``skip_corrupt``) once, not again on every rebuild."""
        from dali_regaug.pipelines import load_dataset, train_pipeline

        dataset = load_dataset(data, skip_corrupt=skip_corrupt)
        return cls(functools.partial(train_pipeline, dataset, **kwargs), train=True,
                   with_info=with_info)

    @classmethod
    def val_loader(cls, data, *, skip_corrupt=False, classes=None, **kwargs):
        """An evaluation loader over :func:`dali_regaug.pipelines.val_pipeline`; pass the
        training split's ``classes`` so that labels index the same classes (a class
        folder missing from ``data`` then shifts nothing)."""
        from dali_regaug.pipelines import load_dataset, val_pipeline

        dataset = load_dataset(data, skip_corrupt=skip_corrupt, classes=classes)
        return cls(lambda checkpoint: val_pipeline(dataset, **kwargs), train=False)

    def _setup(self, built):
        self.built, self._it = built, None
        pipe = built.pipe
        batch = pipe.max_batch_size
        self.iterations_per_epoch = -(-built.shard_size // batch)  # the pipeline's runs
        # what DALI's iterator hands out: with dropping, every rank gets the smallest
        # shard's full batches (floor(N / shards) // batch), whatever its own shard holds
        smallest = pipe.reader_meta("reader")["epoch_size"] // built.shard[1]
        self._len = smallest // batch if self.train else self.iterations_per_epoch
        registry.set_epoch_length(pipe, self.iterations_per_epoch, self.first_epoch)

    def __len__(self):
        return self._len

    @property
    def pipe(self):
        """DALI's pipeline."""
        return self.built.pipe

    @property
    def dataset(self):
        return self.built.dataset

    @property
    def stream(self) -> dict:
        """What the batches depend on: the pipeline's ``stream`` record, else its batch
        size."""
        return dict(self.built.stream or {"batch_size": self.pipe.max_batch_size})

    def set_epoch(self, epoch: int) -> None:
        """Start at ``epoch`` (before the first batch), or check that the loader is there:
        epochs advance by themselves when a pass ends, so that prefetched batches are
        sampled with the right one."""
        if self._it is None and self.position == 0 and self.epoch == self.first_epoch:
            self.epoch = self.first_epoch = int(epoch)
            registry.set_epoch_length(self.pipe, self.iterations_per_epoch, self.first_epoch)
        elif int(epoch) != self.epoch:
            raise ValueError(f"set_epoch({epoch}): this loader is at epoch {self.epoch}; "
                             f"epochs advance when a pass over the loader ends (resume with "
                             f"load_state_dict)")

    def __iter__(self):
        while True:
            try:
                data = self._next()
            except StopIteration:
                self.epoch, self.position = self.epoch + 1, 0
                return
            self.position += 1
            yield self._convert(data)

    def _next(self):
        """The next batch of DALI's iterator (made on first use: it starts the pipeline);
        a decoding failure names the files that do not decode."""
        from dali_regaug.pipelines.folder import naming_corrupt

        with naming_corrupt(self.dataset.files):
            if self._it is None:
                from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

                policy = LastBatchPolicy.DROP if self.train else LastBatchPolicy.PARTIAL
                self._it = DALIGenericIterator(self.pipe, self.built.output_names,
                                               reader_name="reader", auto_reset=True,
                                               last_batch_policy=policy)
            return next(self._it)[0]

    def _convert(self, data):
        labels = data["labels"].reshape(-1).long()
        targets = labels
        if "lam" in data:
            targets = Targets(labels, data["labels_b"].reshape(-1).long(),
                              data["lam"].reshape(-1))
        elif self.train:
            targets = Targets(labels, labels, labels.new_ones(len(labels)).float())
        if not self.with_info:
            return data["images"], targets
        info = {k: v for k, v in data.items() if k not in ("images", "labels", "labels_b", "lam")}
        if "sample_id" in info:
            info["sample_id"] = info["sample_id"].reshape(-1)
        if "flip" in info:
            info["flip"] = info["flip"].reshape(-1).bool()
        if "visible" in info:
            info["visible"] = info["visible"].bool()
        return data["images"], targets, info

    def state_dict(self) -> dict:
        """Everything needed to continue after the last batch handed out, and what the
        stream depends on (``stream``: batch size, spec, shard, seed, file list), which
        :meth:`load_state_dict` checks.

        After the last batch of an epoch the state is that of the next epoch's start (the
        pipeline is there already), so a loop ``for epoch in range(loader.epoch, E)``
        resumes with the right epoch."""
        epoch, position = self.epoch, self.position
        iteration = (epoch - self.first_epoch) * self.iterations_per_epoch + position
        if self.train and position == self._len:  # the epoch is over; its pass just not ended
            epoch, position = epoch + 1, 0  # (DALI's checkpoint still runs its dropped rest)
        dali = self._it.checkpoints() if self._it is not None else [self.pipe.checkpoint()]
        return {"dali": dali, "ops": registry.state_dict(self.pipe, iteration),
                "epoch": epoch, "first_epoch": self.first_epoch, "position": position,
                "stream": self.stream}

    def load_state_dict(self, state: dict) -> None:
        """Rebuild the pipeline from ``state`` and continue where it was taken.

        Raises
        ------
        ValueError
            When the state comes from a stream this loader does not produce (another batch
            size, spec, shard, seed or file list), naming the saved and the given values.
        """
        check_stream(state.get("stream"), self.stream)
        self.epoch, self.first_epoch = int(state["epoch"]), int(state["first_epoch"])
        self.position = int(state["position"])
        self._it = None  # the old pipeline goes with its iterator
        self._setup(self._build(checkpoint=state["dali"][0]))
        registry.load_state_dict(self.pipe, state["ops"])


def check_stream(saved, given) -> None:
    """Refuse to resume a stream other than the one saved: each differing entry is named
    with its saved and its given value."""
    if saved is None:
        raise ValueError("the loader state records no stream (batch size, spec, shard, seed, "
                         "files): it was saved by an older dali-regaug and cannot be checked; "
                         "start a new run")
    diff = [f"{k}: saved {saved.get(k)!r}, given {given.get(k)!r}"
            for k in sorted(set(saved) | set(given)) if saved.get(k) != given.get(k)]
    if diff:
        raise ValueError("cannot resume: the state was saved for another data stream ("
                         + "; ".join(diff) + "); resume with the saved settings")
