"""Throughput cost of a region operator in a DALI pipeline (CPU, or GPU with ``--device
gpu``), against DALI's native ``fn.grid_mask`` and ``fn.erase``, measured in one run;
plus the host sampler's cost per sample.

    python -m benchmarks.pipeline_overhead [--batch 64] [--size 224] [--rounds 7]
                                           [--device cpu] [--json F]

Every variant is the same reader -> decode + random crop -> resize -> flip + normalize
(HWC float32) pipeline with one operator appended (or none). Rounds interleave the variants
so that drifts of a noisy machine hit all of them alike; each figure is the median over
rounds. Each measurement builds its own pipeline and tears it down, so that no other
pipeline runs beside it. Cost = 1 - throughput / throughput without a region operator.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import time

import numpy as np
from nvidia.dali import fn

from .machine import info
from dali_regaug import fn as rfn
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.pipelines import sample_images, train_pipeline


def _identity(images):
    return images


def _dali_erase(x):
    """DALI's native eraser with one box per image of Random Erasing's sizes (sides of 32
    to 112 pixels at 224, anywhere in the image's top-left half), filled with 0."""
    return fn.erase(x, anchor=fn.random.uniform(range=[0, 112], shape=2),
                    shape=fn.random.uniform(range=[32, 112], shape=2), axis_names="HW",
                    fill_value=0.0)


VARIANTS = {
    "none": None,
    # The floor of any python_function operator: DALI allocates and copies its output.
    "python_function (identity)": lambda x, y, ids: fn.python_function(
        x, function=_identity, batch_processing=True, device=x.device),
    # The floor of our sampler node: a python_function on the images' shapes.
    "python_function (shapes)": lambda x, y, ids: (x, fn.python_function(
        x.shape(), function=_identity, batch_processing=True)),
    "dali.fn.grid_mask": lambda x, y, ids: fn.grid_mask(x, ratio=0.4, tile=160, angle=0.0),
    "dali.fn.erase": lambda x, y, ids: _dali_erase(x),
    "grid_mask": lambda x, y, ids: rfn.grid_mask(x, r=0.6, d=(96, 224), seed=1),
    "random_erasing (fill 0)": lambda x, y, ids: rfn.random_erasing(x, prob=0.5, fill=0.0,
                                                                    seed=2),
    "random_erasing (noise)": lambda x, y, ids: rfn.random_erasing(x, prob=0.5, fill="random",
                                                                   seed=2),
    "cutout": lambda x, y, ids: rfn.cutout(x, size=112, seed=3),
    "cutmix": lambda x, y, ids: rfn.cutmix(x, y, seed=4),
    "mixup": lambda x, y, ids: rfn.mixup(x, y, seed=5),
}
WARMUP = 4  # batches run before timing a freshly built pipeline
SAMPLERS = {"grid_mask": GridMask(rotate=45, seed=1), "random_erasing": RandomErasing(seed=2),
            "cutout": Cutout(size=112, seed=3)}


def measure(build, iters):
    """Images/s of a freshly built pipeline over ``iters`` batches after a warm-up. The
    pipeline is torn down afterwards: an idle async pipeline still finishes its prefetched
    batches, which would steal CPU from the next variant measured."""
    pipe = build().pipe
    for _ in range(WARMUP):
        pipe.run()
    start = time.perf_counter()
    for _ in range(iters):
        pipe.run()
    rate = iters * pipe.max_batch_size / (time.perf_counter() - start)
    del pipe
    gc.collect()
    return rate


def interleaved(builds, rounds, iters, label=""):
    """Images/s of each pipeline builder in ``builds`` per round, the variants taking turns
    within every round so that a noisy machine's drifts hit all of them alike."""
    runs = {name: [] for name in builds}
    for r in range(rounds):
        for name, build in builds.items():
            runs[name].append(measure(build, iters))
        print(f"{label}round {r + 1}/{rounds} done", flush=True)
    return runs


def sampler_us_per_sample(op, batch=256, reps=200):
    hw = np.full((batch, 2), 224)
    op.draw(hw)
    start = time.perf_counter()
    for _ in range(reps):
        op.draw(hw)
    return (time.perf_counter() - start) / (reps * batch) * 1e6


def machine() -> dict:
    """CPU model, core count and library versions, for benchmark records."""
    return info(dali="nvidia.dali")


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=24, help="batches per timed run")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    files = sample_images() * 16
    builds = {name: functools.partial(train_pipeline, files, batch_size=args.batch,
                                      size=args.size, device=args.device, layout="HWC",
                                      augment=aug,
                                      num_threads=args.threads, seed=0)
              for name, aug in VARIANTS.items()}
    runs = interleaved(builds, args.rounds, args.iters)
    base = statistics.median(runs["none"])
    rows = {name: {"images_per_s": statistics.median(v), "cost": 1 - statistics.median(v) / base,
                   "runs": v} for name, v in runs.items()}
    sampler = {name: sampler_us_per_sample(op) for name, op in SAMPLERS.items()}

    print(f"\n{args.device.upper()} DALI pipeline, batch {args.batch}, {args.size}x{args.size}, "
          f"{args.threads} threads, median of {args.rounds} rounds x {args.iters} batches")
    print(f"{'variant':<28}{'images/s':>10}{'cost':>9}   runs (min-max)")
    for name, row in rows.items():
        print(f"{name:<28}{row['images_per_s']:>10.1f}{row['cost']:>9.1%}   "
              f"{min(row['runs']):.0f}-{max(row['runs']):.0f}")
    print("\nhost sampler (batch 256): " +
          ", ".join(f"{k} {v:.2f} us/sample" for k, v in sampler.items()))
    if args.json:
        record = {"machine": machine(), "args": vars(args), "pipeline": rows,
                  "sampler_us_per_sample": sampler}
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
    return rows, sampler


if __name__ == "__main__":
    main()
