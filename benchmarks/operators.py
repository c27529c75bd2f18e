"""Region operators on a batch already in memory: this library's sample + apply against the
peers' equivalents, as images/s and as a fraction of the machine's copy bandwidth.

    python -m benchmarks.operators [--batch 64] [--size 224] [--rounds 5] [--json F] [--png F]

The batch is float32 ``(B, 3, H, W)`` (torch's layout; albumentations gets the same images
as HWC NumPy arrays, one call per image, as it is used). Each figure is the median over
rounds; within a round the implementations take turns. The copy bandwidth is that of
``np.copyto`` of the same batch in the same run; an operator's bandwidth counts the bytes it
must move (read the batch, write it: 2x; CutMix and MixUp also read the partners: 3x).

Semantics differ where the peers do: torchvision v2's CutMix and MixUp draw one ``lam`` per
batch (ours and timm's ``elem`` mode draw one per sample), torchvision's RandomErasing is
applied per image in a loop (on a batch it would erase the same box in every image), timm
erases and mixes in place, albumentations' CoarseDropout draws hole sides rather than
Random Erasing's area and aspect. CPU only for now.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from benchmarks.machine import info
from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import Mix


def _ours(op, mix=False):
    def run(x, xs, y, perm):
        a = x.numpy()
        recs = op.draw(np.tile(a.shape[2:], (len(a), 1)))
        return op.apply(a, a[perm], recs) if mix else op.apply(a, recs)
    return run


def _per_image(t):
    return lambda x, xs, y, perm: torch.stack([t(img) for img in x])


def _albumentations(t):
    return lambda x, xs, y, perm: [t(image=img)["image"] for img in xs]


def cases(size, num_classes=10):
    """``{case: (bytes moved per batch byte, {implementation: run(x, xs, y, perm)})}``;
    GridMask's units span ``3/7`` of the side to all of it (96-224 at 224)."""
    import albumentations as A
    import kornia.augmentation as K
    from timm.data.random_erasing import RandomErasing as TimmErasing
    from torchvision.transforms import v2

    timm_erasing = TimmErasing(probability=1.0, mode="const", device="cpu")
    kornia_erasing = K.RandomErasing(p=1.0, value=0.0)
    kornia_cutmix = K.RandomCutMixV2(data_keys=["input", "class"], use_correct_lambda=True)
    units = (max(2, size * 3 // 7), size)
    return {
        "random_erasing": (2, {
            "dali-regaug": _ours(RandomErasing(prob=1.0, area=(0.02, 1 / 3), fill=0.0,
                                               layout="CHW", seed=1)),
            "timm": lambda x, xs, y, perm: timm_erasing(x),
            "torchvision v2": _per_image(v2.RandomErasing(p=1.0, value=0.0)),
            "kornia": lambda x, xs, y, perm: kornia_erasing(x),
            "albumentations": _albumentations(A.CoarseDropout(
                num_holes_range=(1, 1), hole_height_range=(0.1, 0.6),
                hole_width_range=(0.1, 0.6), fill=0, p=1.0)),
        }),
        "grid_mask": (2, {
            "dali-regaug": _ours(GridMask(r=0.6, d=units, fill=0.0, layout="CHW", seed=2)),
            "albumentations": _albumentations(A.GridDropout(ratio=0.4, unit_size_range=units,
                                                            p=1.0)),
        }),
        "cutmix": (3, _mixing(0.0, 1.0, v2.CutMix(alpha=1.0, num_classes=num_classes), 3,
                              num_classes) |
                   {"kornia": lambda x, xs, y, perm: kornia_cutmix(x, y)}),
        "mixup": (3, _mixing(0.2, 0.0, v2.MixUp(alpha=0.2, num_classes=num_classes), 4,
                             num_classes)),
    }


def _mixing(mixup_alpha, cutmix_alpha, torchvision_op, seed, num_classes):
    """Ours, timm's per-sample ``Mixup`` and torchvision's per-batch op, for one mode."""
    from timm.data import Mixup

    timm_op = Mixup(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, mode="elem",
                    num_classes=num_classes)
    ours = Mix(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, layout="CHW", seed=seed)
    return {"dali-regaug": _ours(ours, mix=True),
            "timm": lambda x, xs, y, perm: timm_op(x, y),
            "torchvision v2": lambda x, xs, y, perm: torchvision_op(x, y)}


def copy_bandwidth(a, reps):
    """Bytes per second of ``np.copyto`` over ``a`` (read and write counted)."""
    out = np.empty_like(a)
    np.copyto(out, a)
    start = time.perf_counter()
    for _ in range(reps):
        np.copyto(out, a)
    return 2 * a.nbytes * reps / (time.perf_counter() - start)


def measure(args):
    """Per case and implementation: images/s (median over rounds), the ratio to ours, and
    the fraction of the copy bandwidth; and the copy bandwidth itself."""
    rs = np.random.default_rng(0)
    x = torch.from_numpy(rs.standard_normal((args.batch, 3, args.size, args.size),
                                            np.float32))
    xs = [np.ascontiguousarray(img.transpose(1, 2, 0)) for img in x.numpy()]
    y = torch.from_numpy(rs.integers(0, 10, args.batch))
    perm = np.roll(np.arange(args.batch), 1)
    table, runs, bandwidth = cases(args.size), {}, []
    for case, (_, impls) in table.items():
        for name, run in impls.items():
            run(x.clone(), xs, y, perm)  # warm-up
            runs[case, name] = []
    for r in range(args.rounds):
        bandwidth.append(copy_bandwidth(x.numpy(), args.iters))
        for case, (_, impls) in table.items():
            for name, run in impls.items():
                batch = x.clone()  # in-place peers must not erase the next one's input
                start = time.perf_counter()
                for _ in range(args.iters):
                    run(batch, xs, y, perm)
                runs[case, name].append(args.batch * args.iters / (time.perf_counter() - start))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    copy_bw = statistics.median(bandwidth)
    nbytes = x[0].numel() * 4
    out = {}
    for case, (factor, impls) in table.items():
        ours = statistics.median(runs[case, "dali-regaug"])
        out[case] = {name: {"images_per_s": statistics.median(runs[case, name]),
                            "ratio_to_ours": statistics.median(runs[case, name]) / ours,
                            "bandwidth_fraction": statistics.median(runs[case, name]) *
                            nbytes * factor / copy_bw,
                            "runs": runs[case, name]} for name in impls}
    return out, copy_bw


def plot(results, path, title):
    """Bars of images/s per case and implementation, each labelled with its ratio to ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4))
    for ax, (case, impls) in zip(np.atleast_1d(axes), results.items()):
        names = list(impls)
        rates = [impls[n]["images_per_s"] for n in names]
        bars = ax.bar(range(len(names)), rates,
                      color=["tab:green" if n == "dali-regaug" else "tab:gray" for n in names])
        for bar, n in zip(bars, names):
            ax.annotate(f"{impls[n]['ratio_to_ours']:.2f}x", (bar.get_x() + bar.get_width() / 2,
                                                             bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(case)
        ax.set_ylabel("images/s")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=4, help="batches per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--png", help="write the plot here")
    args = ap.parse_args(argv)
    results, copy_bw = measure(args)
    title = (f"CPU, batch {args.batch}x3x{args.size}x{args.size} float32, "
             f"copy {copy_bw / 1e9:.1f} GB/s, median of {args.rounds} rounds")
    print(f"\n{title}")
    print(f"{'case':<16}{'implementation':<18}{'images/s':>10}{'vs ours':>9}{'of copy bw':>12}")
    for case, impls in results.items():
        for name, row in impls.items():
            print(f"{case:<16}{name:<18}{row['images_per_s']:>10.1f}"
                  f"{row['ratio_to_ours']:>8.2f}x{row['bandwidth_fraction']:>12.1%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": {**info(torch="torch", torchvision="torchvision", timm="timm",
                                          kornia="kornia", albumentations="albumentations"),
                                   "torch_threads": torch.get_num_threads()},
                       "args": vars(args), "copy_bytes_per_s": copy_bw,
                       "results": results}, f, indent=2)
    if args.png:
        plot(results, args.png, title)
    return results


if __name__ == "__main__":
    main()
