"""Costs that used to explode on ordinary inputs (issue 15, part 8), as ms per image and as
a ratio to copying the same image once, measured in the same run.

    python -m benchmarks.crowd [--boxes 1000] [--size 640] [--big 4000] [--rounds 5]
                               [--json F]

* ``visibility``: ``bbox_erasing`` (I+ORE, every box erased) on one image of ``size``
  squared with ``boxes`` boxes, a crowd: the host sampler, holes, and the exact visibility
  of every box under their union (target: at most 20 ms per image at 1000 boxes, 640x640).
* ``random fill``: Random Erasing's noise on about 1,600 pixels of a ``big`` squared float32
  image, in place: the cost follows the erased pixels, not the image.
* ``ragged fill``: Random Erasing (defaults, ``prob=1``) on a batch of ``batch`` images of
  mixed sizes around 224x224, against the same on one size (``ratio_to_uniform``): mixed
  shapes cost no more than their pixels.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .machine import info
from dali_regaug.ops.bbox_erasing import BboxErasing
from dali_regaug.ops.erasing import RandomErasing


def _best(f, rounds):
    f()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def crowd_boxes(k, seed=0):
    """``k`` ltrb boxes (fractions) of 1-10% of the side, anywhere in the image."""
    rs = np.random.default_rng(seed)
    lt = rs.uniform(0, 0.9, (k, 2))
    return np.concatenate([lt, lt + rs.uniform(0.01, 0.1, (k, 2))], 1).astype(np.float32)


def main(argv=None, prog=None) -> dict:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--boxes", type=int, default=1000)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--big", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    k, s = args.boxes, args.size
    op = BboxErasing(mode="image+object", prob=1.0, object_prob=1.0, max_boxes=k, fill=0.0,
                     seed=0)
    boxes, labels = [crowd_boxes(k)], [np.arange(k, dtype=np.int32)]
    image = np.zeros((s, s, 3), np.float32)
    rows = {"visibility": {
        "ms": _best(lambda: op.sample_named({"shapes": [image.shape], "boxes": boxes,
                                              "labels": labels}), args.rounds),
        "copy_ms": _best(lambda: image.copy(), args.rounds), "boxes": k, "size": s}}
    erase = RandomErasing(prob=1.0, area=(1e-4, 1e-4), seed=0)
    big = np.zeros((1, args.big, args.big, 3), np.float32)
    p = erase.draw(np.array([[args.big, args.big]]))
    rows["random fill"] = {
        "ms": _best(lambda: erase.apply(big, p, out=big), args.rounds),
        "copy_ms": _best(lambda: big.copy(), args.rounds), "size": args.big,
        "erased_pixels": int(np.prod(p["boxes"][0, 0, 2:] - p["boxes"][0, 0, :2]))}
    erase = RandomErasing(prob=1.0, seed=0)
    shapes = np.random.default_rng(1).integers(160, 289, (args.batch, 2))
    ragged = [np.zeros((h, w, 3), np.float32) for h, w in shapes]
    uniform = np.zeros((args.batch, 224, 224, 3), np.float32)
    p_ragged, p_uniform = erase.draw(shapes), erase.draw(np.full((args.batch, 2), 224))
    uniform_ms = _best(lambda: erase.apply(uniform, p_uniform), args.rounds)
    ragged_ms = _best(lambda: erase.apply(ragged, p_ragged), args.rounds)
    rows["ragged fill"] = {
        "ms": ragged_ms / args.batch, "ratio_to_uniform": ragged_ms / uniform_ms,
        "copy_ms": _best(lambda: [x.copy() for x in ragged], args.rounds) / args.batch,
        "batch": args.batch}
    for name, r in rows.items():
        r["ratio_to_copy"] = r["ms"] / r["copy_ms"]
        print(f"{name:12s} {r['ms']:8.2f} ms per image   {r['ratio_to_copy']:7.3f} x one copy "
              f"of the image")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "machine": info()}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
