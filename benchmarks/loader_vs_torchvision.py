"""Training-loader throughput: this project's CPU DALI pipeline against a torchvision
``DataLoader`` doing the same augmentations, on the same images and cores, in one run.

    python -m benchmarks.loader_vs_torchvision [--data DIR] [--batch 64] [--size 224]
        [--batches 16 32] [--sizes 112 160] [--epochs 2] [--rounds 3] [--json F] [--png F]

Both sides: decode, RandomResizedCrop(0.08-1, 3/4-4/3), horizontal flip, normalize to
float32 CHW, then the region augmentation of the case, against its usual CPU form:

========================  =====================================  ============================
case                      ours (spec)                            torchvision side
========================  =====================================  ============================
none                      none                                   -
random_erasing            random_erasing(p=0.5,fill=random)      torchvision RandomErasing
random_erasing_timm       random_erasing(p=0.5,fill=random)      timm RandomErasing (pixel)
grid_mask                 gridmask(r=0.6,d=3/7-1 of the side)    GridMask per image in NumPy
cutmix                    cutmix(alpha=1)                        torchvision CutMix (batch)
cutmix_timm               cutmix(alpha=1)                        timm Mixup, elem mode
mixup                     mixup(alpha=0.2)                       torchvision MixUp (batch)
mixup_timm                mixup(alpha=0.2)                       timm Mixup, elem mode
========================  =====================================  ============================

torchvision uses ``workers = cores`` processes; DALI ``num_threads = cores``. Per-image
transforms run in the workers, batch transforms in the collate (also in the workers).
Every case runs at ``--batch``/``--size``; ``--batches`` and ``--sizes`` add a batch-size
sweep at ``--size`` and a crop-size sweep at ``--batch``. Rounds alternate the two sides;
each figure is the median epoch rate over rounds, after one warm-up epoch per loader.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from . import figure
from .operators import units


CASES = {  # name -> (our spec(size), per-image transform(size), batch transform(classes))
    "none": (lambda size: "none", None, None),
    "random_erasing": (lambda size: "random_erasing(p=0.5,fill=random)",
                       lambda size: _v2().RandomErasing(p=0.5, value="random"), None),
    "random_erasing_timm": (lambda size: "random_erasing(p=0.5,fill=random)",
                            lambda size: _timm_erasing(), None),
    "grid_mask": (lambda size: "gridmask(r=0.6,d={}-{})".format(*units(size)),
                  lambda size: GridMaskNumpy(units(size), r=0.6), None),
    "cutmix": (lambda size: "cutmix(alpha=1)", None,
               lambda classes: _v2().CutMix(num_classes=classes, alpha=1.0)),
    "cutmix_timm": (lambda size: "cutmix(alpha=1)", None,
                    lambda classes: _timm_mixup(classes, mixup_alpha=0.0, cutmix_alpha=1.0)),
    "mixup": (lambda size: "mixup(alpha=0.2)", None,
              lambda classes: _v2().MixUp(num_classes=classes, alpha=0.2)),
    "mixup_timm": (lambda size: "mixup(alpha=0.2)", None,
                   lambda classes: _timm_mixup(classes, mixup_alpha=0.2, cutmix_alpha=0.0)),
}


def _v2():
    from torchvision.transforms import v2

    return v2


def _timm_erasing():
    from timm.data.random_erasing import RandomErasing

    return RandomErasing(probability=0.5, mode="pixel", device="cpu")


def _timm_mixup(classes, **alphas):
    from timm.data import Mixup

    return Mixup(**alphas, mode="elem", num_classes=classes)


class GridMaskNumpy:
    """GridMask as its official code applies it: per image, a NumPy mask of units of a
    random side ``d``, at random offsets, each unit dropping a square of side
    ``d - ceil(r d)``, multiplied into the CHW tensor (no rotation, as its ImageNet setting)."""

    def __init__(self, units, r):
        self.units, self.r = units, r

    def __call__(self, img):
        import torch

        h, w = img.shape[1:]
        d = np.random.randint(self.units[0], self.units[1] + 1)
        drop = d - int(np.ceil(self.r * d))
        dy, dx = np.random.randint(0, d, 2)
        rows = (np.arange(h) - dy) % d < drop
        cols = (np.arange(w) - dx) % d < drop
        mask = ~(rows[:, None] & cols[None, :])
        return img * torch.from_numpy(mask.astype(np.float32))


def ours(data, case, args):
    from dali_regaug.torch import Loader

    return Loader.train_loader(data, batch_size=args.batch, size=args.size, device="cpu",
                               augment=CASES[case][0](args.size), num_threads=args.workers,
                               seed=0)


def torchvision_loader(data, case, args):
    import torch
    from torchvision import datasets
    from torchvision.transforms import v2

    from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD

    steps = [v2.RandomResizedCrop(args.size, antialias=True), v2.RandomHorizontalFlip(),
             v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
             v2.Normalize([m / 255 for m in IMAGENET_MEAN], [s / 255 for s in IMAGENET_STD])]
    _, per_image, per_batch = CASES[case]
    if per_image is not None:
        steps.append(per_image(args.size))
    ds = datasets.ImageFolder(data, transform=v2.Compose(steps))
    collate = torch.utils.data.default_collate
    if per_batch is not None:
        collate = _MixCollate(per_batch(len(ds.classes)))
    return torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True,
                                       num_workers=args.workers, persistent_workers=True,
                                       collate_fn=collate)


class _MixCollate:
    """Collate, then mix the batch in the worker (picklable for worker processes)."""

    def __init__(self, mix):
        self.mix = mix

    def __call__(self, samples):
        import torch

        return self.mix(*torch.utils.data.default_collate(samples))


def epoch_rate(loader):
    start, n = time.perf_counter(), 0
    for x, _ in loader:
        n += len(x)
    return n / (time.perf_counter() - start)


def measure(data, case, args):
    """Median img/s of each side and their ratio, with every epoch's rate."""
    rates = {"dali-regaug": [], "torchvision": []}
    for _ in range(args.rounds):
        for side, make in (("dali-regaug", ours), ("torchvision", torchvision_loader)):
            loader = make(data, case, args)
            epoch_rate(loader)  # warm-up: worker start, first decode, allocations
            rates[side] += [epoch_rate(loader) for _ in range(args.epochs)]
            del loader
    med = {k: statistics.median(v) for k, v in rates.items()}
    row = {"batch": args.batch, "size": args.size, "images_per_s": med,
           "ratio": med["dali-regaug"] / med["torchvision"], "runs": rates}
    print(f"{case:<20} batch {args.batch:>3} size {args.size:>3}  dali-regaug "
          f"{med['dali-regaug']:7.1f} img/s  torchvision {med['torchvision']:7.1f} img/s  "
          f"ratio {row['ratio']:.2f}x", flush=True)
    return row


def plot(rows, sweep, args, path, title):
    """Ratios to torchvision per case at ``--batch``/``--size`` (the 1.8x target marked),
    and against batch size and crop size where a sweep ran."""
    sweeps = [(key, other, value) for key, other, value, swept in
              (("batch", "size", args.size, args.batches), ("size", "batch", args.batch,
                                                            args.sizes)) if swept]
    fig, axes = figure.row(1 + len(sweeps), width=14 / 3 if sweeps else 7)
    names = list(rows)
    axes[0].bar(range(len(names)), [rows[n]["ratio"] for n in names], color="tab:green")
    for i, n in enumerate(names):
        axes[0].annotate(f"{rows[n]['ratio']:.2f}x", (i, rows[n]["ratio"]), ha="center",
                         va="bottom", fontsize=8)
    axes[0].axhline(1.8, color="tab:red", ls="--", lw=1, label="target 1.8x")
    axes[0].axhline(1.0, color="gray", lw=0.8)
    axes[0].set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel("dali-regaug / torchvision DataLoader")
    axes[0].set_title(f"batch {args.batch}, {args.size}x{args.size}")
    axes[0].legend(fontsize=8)
    for ax, (key, other, value) in zip(axes[1:], sweeps):
        for n in names:
            pts = sorted([r for r in sweep if r["case"] == n and r[other] == value] +
                         [rows[n]], key=lambda r: r[key])
            if len(pts) > 1:
                ax.plot([r[key] for r in pts], [r["ratio"] for r in pts], "o-", label=n)
        ax.axhline(1.8, color="tab:red", ls="--", lw=1)
        ax.set_xlabel(f"{key} ({other} {value})")
        ax.set_ylabel("ratio")
        ax.legend(fontsize=7)
    figure.save(fig, path, title)


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="ImageNet-layout folder (default: the "
                                                   "sample dataset's train split)")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batches", type=int, nargs="*", default=[16, 32],
                    help="batch sizes of the sweep (at --size)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[112, 160],
                    help="crop sizes of the sweep (at --batch)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--png", help="write the plot here")
    args = ap.parse_args(argv)
    if args.data is None:
        from dali_regaug import sample_data

        args.data = str(sample_data.make() / "train")
    rows = {case: measure(args.data, case, args) for case in args.cases}
    extra = [(b, args.size) for b in args.batches if b != args.batch] + \
        [(args.batch, s) for s in args.sizes if s != args.size]
    sweep = [{"case": case, **measure(args.data, case, argparse.Namespace(
        **{**vars(args), "batch": b, "size": s}))} for b, s in extra for case in args.cases]
    title = (f"CPU ({os.cpu_count()} cores), DALI {args.workers} threads vs DataLoader "
             f"{args.workers} workers, median of {args.rounds}x{args.epochs} epochs")
    if args.json:
        from .machine import info

        machine = info(dali="nvidia.dali", torch="torch", torchvision="torchvision",
                       timm="timm")
        Path(args.json).write_text(json.dumps({"machine": machine, "args": vars(args),
                                               "cases": rows, "sweep": sweep}, indent=2))
    if args.png:
        plot(rows, sweep, args, args.png, title)
    return rows


if __name__ == "__main__":
    main()
