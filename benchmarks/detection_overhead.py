"""Throughput cost of ``bbox_erasing`` in the CPU COCO pipeline, measured in one run; plus
the host side of the operator (sampling, visibility, box bookkeeping) per image.

    python -m benchmarks.detection_overhead [--data COCO_ROOT] [--batch 32] [--size 320]
                                            [--rounds 5] [--iters 8] [--json F]

The default data is a COCO sample with about 7 objects per image before the crop (COCO's
average), built once under the sample cache. Variants are the same reader -> box-aware crop
-> ROI decode -> flip -> resize -> normalize pipeline with ``bbox_erasing`` (I+ORE,
``min_visibility=0.3``, the paper's noise fill or a constant; or with no regions at all,
which leaves the cost of passing the images through the operator) or without it; rounds
interleave them and each figure is the median over rounds. Cost = 1 - throughput /
throughput without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from .pipeline_overhead import machine, measure
from dali_regaug.ops.bbox_erasing import BboxErasing
from dali_regaug.pipelines import detection_pipeline

VARIANTS = {"none": "none",
            "bbox_erasing": "bbox_erasing(p=0.5,object_prob=0.5,min_visibility=0.3)",
            "bbox_erasing (fill=0)": "bbox_erasing(p=0.5,object_prob=0.5,min_visibility=0.3,"
                                     "fill=0)",
            # no regions: what the python_function round trip of the images costs by itself
            "bbox_erasing (p=0)": "bbox_erasing(p=0,object_prob=0)"}


def sample_root():
    from dali_regaug import sample_coco

    return sample_coco.make(sample_coco.default_root().with_name("coco-7-objects"),
                            train=128, val=8, max_objects=13, progress=None)


def host_us_per_image(boxes_per_image=7, batch=32, reps=50):
    """The CPU node of the GPU path: sample, visibility and box bookkeeping (no pixels)."""
    rs = np.random.default_rng(0)
    op = BboxErasing(min_visibility=0.3, seed=0)
    corner = rs.uniform(0, 0.7, (batch, boxes_per_image, 2))
    boxes = [np.concatenate([c, c + rs.uniform(0.05, 0.3, c.shape)], 1).astype(np.float32)
             for c in corner]
    labels = [np.arange(boxes_per_image, dtype=np.int32)] * batch
    shapes = [np.array([320, 320, 3])] * batch
    op.sample_named({"shapes": shapes, "boxes": boxes, "labels": labels})
    start = time.perf_counter()
    for _ in range(reps):
        op.sample_named({"shapes": shapes, "boxes": boxes, "labels": labels})
    return (time.perf_counter() - start) / (reps * batch) * 1e6


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="COCO root (default: the 7-object sample)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=8, help="timed batches per measurement")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    root = args.data or sample_root()

    def build(text):
        return detection_pipeline(root, batch_size=args.batch, size=args.size, augment=text,
                                  device="cpu", seed=0, num_threads=args.threads)

    probe = build("none")
    counts = np.concatenate([probe.run()[3].as_array().ravel() for _ in range(4)])
    del probe
    rates = {k: [] for k in VARIANTS}
    for _ in range(args.rounds):
        for name, text in VARIANTS.items():
            rates[name].append(measure(lambda: build(text), args.iters))
    med = {k: statistics.median(v) for k, v in rates.items()}
    rows = {k: {"images_per_s": med[k], "cost": 1 - med[k] / med["none"], "runs": rates[k]}
            for k in VARIANTS}
    host = host_us_per_image()
    for name, r in rows.items():
        print(f"{name:<22} {r['images_per_s']:8.1f} img/s   cost {r['cost']:6.1%}")
    print(f"boxes per image after the crop: {counts.mean():.1f}; host side of bbox_erasing "
          f"(7 boxes): {host:.1f} us per image")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine(), "args": vars(args), "boxes_per_image": float(counts.mean()),
            "host_us_per_image": host, "variants": rows}, indent=2))
    return rows, host


if __name__ == "__main__":
    main()
