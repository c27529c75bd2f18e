"""The benchmarks' plots: a row of axes on matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import numpy as np


def row(count: int, width: float = 4.5, height: float = 4.0):
    """``(figure, axes)``: ``count`` axes side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(width * count, height))
    return fig, np.atleast_1d(axes)


def save(fig, path, title: str) -> None:
    """Title the figure, write it as a PNG and free it."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
