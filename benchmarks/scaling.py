"""Cost of our operators against batch size and image size, to show that it is linear in the
pixels moved and where the fixed cost per batch (Python, sampling, launch) dominates.

    python -m benchmarks.scaling [--batches 8 16 32 64 128] [--sizes 32 64 112 160 224 320]
                                 [--rounds 5] [--json F] [--png F]

Each operator samples and applies into a reused buffer (``benchmarks.operators.ours``) on
float32 CHW batches: batch sizes at ``--size``, image sizes at ``--batch``. A plain copy
of the same batch is timed alongside as the memory-bound floor. Each point is the median
over rounds of ms per batch; ``ms = fixed + per_mpix * megapixels`` is fitted by least
squares (relative errors) over all points of an operator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from . import figure
from .machine import info
from .operators import ours


def _copy():
    """A plain copy of the batch into a reused buffer, run as the operators are."""
    buffer = []

    def run(x, xs, y, perm):
        a = x.numpy()
        if not buffer:
            buffer.append(np.empty_like(a))
        np.copyto(buffer[0], a)
    return run


def points(args):
    """``[(batch, size)]``: the batch sweep at ``--size``, then the size sweep at ``--batch``."""
    grid = [(b, args.size) for b in args.batches] + [(args.batch, s) for s in args.sizes]
    return list(dict.fromkeys(grid))


def measure(args):
    """``{op: [{batch, size, mpix, ms}]}`` (median ms per batch over rounds), with ``copy``."""
    rs, out = np.random.default_rng(0), {}
    for batch, size in points(args):
        x = torch.from_numpy(rs.standard_normal((batch, 3, size, size), np.float32))
        y, perm = torch.zeros(batch, dtype=torch.long), np.roll(np.arange(batch), 1)
        runs = {"copy": _copy(), **ours(size)}
        times = {name: [] for name in runs}
        for run in runs.values():
            run(x, None, y, perm)  # warm-up: buffers, caches
        for _ in range(args.rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                for _ in range(args.iters):
                    run(x, None, y, perm)
                times[name].append((time.perf_counter() - start) / args.iters * 1e3)
        for name, t in times.items():
            out.setdefault(name, []).append({"batch": batch, "size": size,
                                             "mpix": batch * size * size / 1e6,
                                             "ms": statistics.median(t)})
        print(f"batch {batch:>4} size {size:>4}: " + "  ".join(
            f"{n} {statistics.median(t):.2f} ms" for n, t in times.items()), flush=True)
    return out


def fit(rows):
    """``(fixed ms, ms per megapixel)`` of the line through ``rows`` fitted to relative
    errors (weights ``1 / ms``), so the small batches that show the fixed cost count as
    much as the large ones."""
    mpix = np.array([r["mpix"] for r in rows])
    ms = np.array([r["ms"] for r in rows])
    if len(np.unique(mpix)) < 2:  # one size measured: no slope to fit
        return float(ms.mean()), float("nan")
    per_mpix, fixed = np.polyfit(mpix, ms, 1, w=1 / ms)
    return float(fixed), float(per_mpix)


def plot(results, fits, args, path, title):
    """ms per batch against batch size and against image size (log-log), one line per
    operator, the copy dashed."""
    fig, axes = figure.row(2, width=5)
    for ax, key, fixed_key, fixed_value in ((axes[0], "batch", "size", args.size),
                                            (axes[1], "size", "batch", args.batch)):
        for name, rows in results.items():
            rows = sorted((r for r in rows if r[fixed_key] == fixed_value), key=lambda r: r[key])
            label = name if name == "copy" else \
                f"{name} ({fits[name][0]:.2f} ms + {fits[name][1]:.1f} ms/Mpix)"
            ax.plot([r[key] for r in rows], [r["ms"] for r in rows], "--" if name == "copy"
                    else "o-", label=label, color="gray" if name == "copy" else None)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(f"{key} ({fixed_key} {fixed_value})")
        ax.set_ylabel("ms per batch")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    figure.save(fig, path, title)


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 112, 160, 224, 320])
    ap.add_argument("--batch", type=int, default=32, help="batch size of the size sweep")
    ap.add_argument("--size", type=int, default=224, help="image size of the batch sweep")
    ap.add_argument("--iters", type=int, default=3, help="batches per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--png", help="write the plot here")
    args = ap.parse_args(argv)
    results = measure(args)
    fits = {name: fit(rows) for name, rows in results.items()}
    print(f"\n{'operator':<16}{'fixed ms':>10}{'ms/Mpix':>10}{'fixed share at smallest':>26}")
    for name, (fixed, per_mpix) in fits.items():
        smallest = min(results[name], key=lambda r: r["mpix"])
        print(f"{name:<16}{fixed:>10.3f}{per_mpix:>10.2f}{fixed / smallest['ms']:>26.0%}")
    title = (f"CPU, float32 CHW, sample + apply into a reused buffer, median of {args.rounds} "
             f"rounds")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info(torch="torch"), "args": vars(args),
                       "fits": {n: {"fixed_ms": a, "ms_per_mpix": b} for n, (a, b) in
                                fits.items()}, "results": results}, f, indent=2)
    if args.png:
        plot(results, fits, args, args.png, title)
    return results, fits


if __name__ == "__main__":
    main()
