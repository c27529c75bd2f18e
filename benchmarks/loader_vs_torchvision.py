"""Training-loader throughput: this project's CPU DALI pipeline against a torchvision
``DataLoader`` doing the same augmentations, on the same images and cores, in one run.

    python -m benchmarks.loader_vs_torchvision [--data DIR] [--batch 32] [--size 224]
                                               [--epochs 3] [--rounds 3] [--json F]

Both sides: decode, RandomResizedCrop(0.08-1, 3/4-4/3), horizontal flip, normalize to
float32 CHW, then the region augmentation of the case (none, Random Erasing p=0.5 with
per-pixel noise, CutMix alpha=1 on the batch). torchvision uses ``workers = cores``
processes; DALI ``num_threads = cores``. Rounds alternate the two sides; each figure is the
median epoch rate over rounds, after one warm-up epoch per loader.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

CASES = {  # name -> (our spec, torchvision per-image transform, batch transform)
    "none": ("none", None, None),
    "random_erasing": ("random_erasing(p=0.5,fill=random)", "erasing", None),
    "cutmix": ("cutmix(alpha=1)", None, "cutmix"),
}


def ours(data, case, args):
    from dali_regaug.torch import Loader

    return Loader.train_loader(data, batch_size=args.batch, size=args.size, device="cpu",
                               augment=CASES[case][0], num_threads=args.workers, seed=0)


def torchvision_loader(data, case, args):
    import torch
    from torchvision import datasets
    from torchvision.transforms import v2

    from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD

    steps = [v2.RandomResizedCrop(args.size, antialias=True), v2.RandomHorizontalFlip(),
             v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
             v2.Normalize([m / 255 for m in IMAGENET_MEAN], [s / 255 for s in IMAGENET_STD])]
    if CASES[case][1] == "erasing":
        steps.append(v2.RandomErasing(p=0.5, value="random"))
    ds = datasets.ImageFolder(data, transform=v2.Compose(steps))
    collate = torch.utils.data.default_collate
    if CASES[case][2] == "cutmix":
        mix = v2.CutMix(num_classes=len(ds.classes), alpha=1.0)
        collate = _MixCollate(mix)
    return torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True,
                                       num_workers=args.workers, persistent_workers=True,
                                       collate_fn=collate)


class _MixCollate:
    """Collate, then CutMix the batch in the worker (picklable for worker processes)."""

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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="ImageNet-layout folder (default: the "
                                                   "sample dataset's train split)")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.data is None:
        from dali_regaug import sample_data

        args.data = str(sample_data.make() / "train")
    rows = {}
    for case in args.cases:
        rates = {"dali-regaug": [], "torchvision": []}
        for _ in range(args.rounds):
            for side, make in (("dali-regaug", ours), ("torchvision", torchvision_loader)):
                loader = make(args.data, case, args)
                epoch_rate(loader)  # warm-up: worker start, first decode, allocations
                rates[side] += [epoch_rate(loader) for _ in range(args.epochs)]
                del loader
        med = {k: statistics.median(v) for k, v in rates.items()}
        rows[case] = {"images_per_s": med, "ratio": med["dali-regaug"] / med["torchvision"],
                      "runs": rates}
        print(f"{case:<16} dali-regaug {med['dali-regaug']:8.1f} img/s   torchvision "
              f"{med['torchvision']:8.1f} img/s   ratio {rows[case]['ratio']:.2f}x", flush=True)
    if args.json:
        from benchmarks.machine import info

        machine = info(dali="nvidia.dali", torch="torch", torchvision="torchvision")
        Path(args.json).write_text(json.dumps({"machine": machine, "args": vars(args),
                                               "cases": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
