"""What a built pipeline of :mod:`dali_regaug.pipelines` comes with, kept beside DALI's
``Pipeline`` rather than on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from dali_regaug import registry


@dataclass
class Built:
    """A built DALI pipeline and its metadata.

    Attributes
    ----------
    pipe : nvidia.dali.Pipeline
    output_names : list of str
        One per pipeline output, in order (what :class:`dali_regaug.loader.Loader` and
        ``DALIGenericIterator`` name them).
    shard : (int, int)
        This rank's shard and the number of shards.
    shard_size : int
        Samples per shard per epoch (the reader pads every shard to the largest).
    stream : dict
        What the output depends on (batch size, spec, ..., file list), checked on resume.
    dataset : Dataset, optional
        The classification dataset read.
    box_report : dict, optional
        The COCO box check (:mod:`dali_regaug.pipelines.coco_boxes`).
    """

    pipe: object
    output_names: list
    shard: tuple
    shard_size: int
    stream: dict = field(default_factory=dict)
    dataset: object = None
    box_report: object = None

    @property
    def ops(self) -> dict:
        """``{name: operator}`` of its region operators (for ``set_epoch`` and state)."""
        return registry.ops(self.pipe)

    def run(self) -> tuple:
        """One iteration: DALI's ``pipe.run()`` (outputs in ``output_names`` order)."""
        return self.pipe.run()
