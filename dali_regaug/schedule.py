"""Probability schedules driven by the epoch (``set_epoch``).

GridMask (Chen et al. 2020, Sec. 3.2) raises the probability of applying the mask linearly
over training up to an upper bound P; :class:`Linear` is that scheme.
"""

from __future__ import annotations

from dali_regaug import validate


class Constant:
    """The same probability every epoch."""

    def __init__(self, p: float, *, name: str = "prob"):
        self.p = validate.number(name, p, 0.0, 1.0)

    def __call__(self, epoch: int) -> float:
        return self.p

    def __repr__(self):
        return f"Constant({self.p})"

    def __eq__(self, other):
        return isinstance(other, Constant) and other.p == self.p

    __hash__ = None


class Linear:
    """``start + (end - start) * min(1, epoch / epochs)``.

    Parameters
    ----------
    end : float
        Probability reached after ``epochs`` epochs and kept afterwards (the paper's P).
    epochs : int
        Length of the ramp, > 0.
    start : float
        Probability at epoch 0.
    """

    def __init__(self, end: float, epochs: int, start: float = 0.0):
        self.end = validate.number("end", end, 0.0, 1.0)
        self.start = validate.number("start", start, 0.0, 1.0)
        self.epochs = validate.number("epochs", epochs, 1, None, integer=True)

    def __call__(self, epoch: int) -> float:
        t = min(1.0, max(0, epoch) / self.epochs)
        return self.start + (self.end - self.start) * t

    def __repr__(self):
        return f"Linear(end={self.end}, epochs={self.epochs}, start={self.start})"

    def __eq__(self, other):
        return isinstance(other, Linear) and \
            (other.end, other.epochs, other.start) == (self.end, self.epochs, self.start)

    __hash__ = None


def as_schedule(prob, name: str = "prob"):
    """A schedule from a probability or a schedule object."""
    if isinstance(prob, (Constant, Linear)):
        return prob
    return Constant(prob, name=name)
