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
import os
import statistics
import time

import numpy as np
import torch

from . import figure
from .machine import info
from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import Mix


def _ours(op, mix=False, in_place=False, apply_only=False, backend=None):
    """Sample, then apply into one buffer reused across batches (as the DALI bodies do), or
    into the batch itself; partners are the batch's own samples, read in place. CUDA
    tensors go to the kernels through DLPack (``backend="emulator"`` runs them on the CPU).
    ``apply_only``: sample once, then time the apply alone (the kernel on a GPU)."""
    state = {}

    def run(x, xs, y, perm):
        a = _as_array(x)
        if not state:
            state["out"] = a.copy()
            state["recs"] = op.draw(np.tile(a.shape[2:], (len(a), 1)))
        out = a if in_place else state["out"]
        recs = state["recs"] if apply_only else op.draw(np.tile(a.shape[2:], (len(a), 1)))
        if mix:
            return op.apply(a, [a[i] for i in perm], recs, out=out, backend=backend)
        return op.apply(a, recs, out=out, backend=backend)
    return run


def _as_array(x):
    """The NumPy array (CPU) or CuPy array (CUDA) over a tensor's memory."""
    if x.is_cuda:
        import cupy

        return cupy.from_dlpack(x)
    return x.numpy()


def _dali(make, xs, threads):
    """A CPU DALI pipeline applying ``make(images)`` to the HWC batch ``xs``, fed without a
    copy by ``external_source``; one ``run()`` per batch."""
    from nvidia.dali import fn, pipeline_def

    batch = np.stack(xs)

    @pipeline_def(batch_size=len(xs), num_threads=threads, device_id=None, seed=5,
                  prefetch_queue_depth=1)
    def pipe():
        images = fn.external_source(source=lambda: batch, batch=True, no_copy=True,
                                    layout="HWC")
        return make(images)

    p = pipe()
    p.build()
    return lambda x, xs, y, perm: p.run()


def _per_image(t):
    return lambda x, xs, y, perm: torch.stack([t(img) for img in x])


def _albumentations(t):
    return lambda x, xs, y, perm: [t(image=img)["image"] for img in xs]


def cases(size, xs, device="cpu", backend=None, apply_only=False, num_classes=10,
          threads=os.cpu_count()):
    """``{case: (bytes moved per batch byte, {implementation: run(x, xs, y, perm)})}``;
    GridMask's units span ``3/7`` of the side to all of it (96-224 at 224). DALI's and
    albumentations' rows (host only) are left out on CUDA; a peer not installed (DALI or
    timm on a GPU machine, say) is left out and named in the output."""
    mine = {"dali-regaug": ours(size, backend=backend),
            "dali-regaug in place": ours(size, True, backend=backend)}
    if apply_only:
        mine["dali-regaug apply only"] = ours(size, backend=backend, apply_only=True)
    table = {"random_erasing": (2, {}), "grid_mask": (2, {}), "cutmix": (3, {}),
             "mixup": (3, {})}
    for case, (_, impls) in table.items():
        impls.update({n: m[case] for n, m in mine.items() if case in m})
    peers = [_timm(device, num_classes), _torchvision(num_classes), _kornia()]
    if device == "cpu":
        peers += [_albumentations_cases(units(size)),
                  _dali_cases(size, units(size), xs, threads)]
    for rows in peers:
        for case, impls in rows.items():
            table[case][1].update(impls)
    return table


def _timm(device, num_classes):
    """timm's ``RandomErasing`` (device mode, in place) and per-sample ``Mixup``."""
    try:
        from timm.data import Mixup
        from timm.data.random_erasing import RandomErasing as TimmErasing
    except ImportError:
        return _missing("timm")
    erasing = TimmErasing(probability=1.0, mode="const", device=device)
    cutmix, mixup = (Mixup(mixup_alpha=m, cutmix_alpha=c, mode="elem", num_classes=num_classes)
                     for m, c in ((0.0, 1.0), (0.2, 0.0)))
    return {"random_erasing": {"timm": lambda x, xs, y, perm: erasing(x)},
            "cutmix": {"timm": lambda x, xs, y, perm: cutmix(x, y)},
            "mixup": {"timm": lambda x, xs, y, perm: mixup(x, y)}}


def _torchvision(num_classes):
    """torchvision v2: ``RandomErasing`` per image, ``CutMix``/``MixUp`` per batch."""
    try:
        from torchvision.transforms import v2
    except ImportError:
        return _missing("torchvision")
    cutmix = v2.CutMix(alpha=1.0, num_classes=num_classes)
    mixup = v2.MixUp(alpha=0.2, num_classes=num_classes)
    return {"random_erasing": {"torchvision v2": _per_image(v2.RandomErasing(p=1.0,
                                                                              value=0.0))},
            "cutmix": {"torchvision v2": lambda x, xs, y, perm: cutmix(x, y)},
            "mixup": {"torchvision v2": lambda x, xs, y, perm: mixup(x, y)}}


def _kornia():
    try:
        import kornia.augmentation as K
    except ImportError:
        return _missing("kornia")
    erasing = K.RandomErasing(p=1.0, value=0.0)
    cutmix = K.RandomCutMixV2(data_keys=["input", "class"], use_correct_lambda=True)
    return {"random_erasing": {"kornia": lambda x, xs, y, perm: erasing(x)},
            "cutmix": {"kornia": lambda x, xs, y, perm: cutmix(x, y)}}


def _missing(name):
    print(f"{name} is not installed: its rows are left out", flush=True)
    return {}


def units(size):
    """GridMask's unit sizes in these benchmarks: ``3/7`` of the side to all of it (96-224
    at 224)."""
    return max(2, size * 3 // 7), size


def ours(size, in_place=False, **options):
    """Our operators as the benchmark runs them, ``{case: run(x, xs, y, perm)}``: Random
    Erasing (fill 0), GridMask (units ``3/7`` of the side to all of it), CutMix, MixUp;
    ``in_place``: the masking ones only, writing into the batch. ``options`` go to
    :func:`_ours`."""
    run = {"random_erasing": _ours(RandomErasing(prob=1.0, area=(0.02, 1 / 3), fill=0.0,
                                                 layout="CHW", seed=1), in_place=in_place,
                                   **options),
           "grid_mask": _ours(GridMask(r=0.6, d=units(size), fill=0.0, layout="CHW", seed=2),
                              in_place=in_place, **options)}
    if not in_place:
        run["cutmix"] = _ours(Mix(mixup_alpha=0.0, cutmix_alpha=1.0, layout="CHW", seed=3),
                              mix=True, **options)
        run["mixup"] = _ours(Mix(mixup_alpha=0.2, cutmix_alpha=0.0, layout="CHW", seed=4),
                             mix=True, **options)
    return run


def _albumentations_cases(sides):
    """albumentations' ``CoarseDropout`` and ``GridDropout``, one call per HWC image, as it
    is used."""
    try:
        import albumentations as A
    except ImportError:
        return _missing("albumentations")
    return {"random_erasing": {"albumentations": _albumentations(A.CoarseDropout(
                num_holes_range=(1, 1), hole_height_range=(0.1, 0.6),
                hole_width_range=(0.1, 0.6), fill=0, p=1.0))},
            "grid_mask": {"albumentations": _albumentations(A.GridDropout(
                ratio=0.4, unit_size_range=sides, p=1.0))}}


def _dali_cases(size, sides, xs, threads):
    """DALI's native ``erase`` (a box with uniform corner and sides of 10-50% of the
    image's: DALI has no Random Erasing sampler) and ``grid_mask`` (keep ratio 0.6, a tile
    drawn per sample from GridMask's units)."""
    try:
        from nvidia.dali import fn, types
    except ImportError:
        return _missing("DALI")

    def erase(images):
        shape = fn.random.uniform(range=[0.1 * size, 0.5 * size], shape=2)
        anchor = fn.random.uniform(range=[0, 0.5 * size], shape=2)
        return fn.erase(images, anchor=anchor, shape=shape, axis_names="HW", fill_value=0.0)

    def grid(images):
        tile = fn.random.uniform(range=[sides[0], sides[1] + 1], dtype=types.INT32)
        return fn.grid_mask(images, ratio=0.4, tile=tile)

    return {"random_erasing": {"dali fn.erase": _dali(erase, xs, threads)},
            "grid_mask": {"dali fn.grid_mask": _dali(grid, xs, threads)}}


def copy_bandwidth(x, reps):
    """Bytes per second of a plain copy of tensor ``x`` (read and write counted):
    ``np.copyto`` on the host, ``Tensor.copy_`` on a GPU."""
    out = torch.empty_like(x)
    copy = (lambda: out.copy_(x)) if x.is_cuda else (lambda: np.copyto(out.numpy(), x.numpy()))
    copy()
    _sync(x)
    start = time.perf_counter()
    for _ in range(reps):
        copy()
    _sync(x)
    return 2 * x.numel() * x.element_size() * reps / (time.perf_counter() - start)


def _sync(x):
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def measure(args):
    """Per case and implementation: images/s (median over rounds), the ratio to ours, and
    the fraction of the copy bandwidth; and the copy bandwidth itself."""
    rs = np.random.default_rng(0)
    x = torch.from_numpy(rs.standard_normal((args.batch, 3, args.size, args.size),
                                            np.float32))
    xs = [np.ascontiguousarray(img.transpose(1, 2, 0)) for img in x.numpy()]
    x, y = x.to(args.device), torch.from_numpy(rs.integers(0, 10, args.batch)).to(args.device)
    perm = np.roll(np.arange(args.batch), 1)
    table = cases(args.size, xs, args.device, args.backend, args.apply_only)
    runs, bandwidth = {}, []
    for case, (_, impls) in table.items():
        for name, run in impls.items():
            run(x.clone(), xs, y, perm)  # warm-up
            runs[case, name] = []
    for r in range(args.rounds):
        bandwidth.append(copy_bandwidth(x, args.iters))
        for case, (_, impls) in table.items():
            for name, run in impls.items():
                batch = x.clone()  # in-place peers must not erase the next one's input
                _sync(x)
                start = time.perf_counter()
                for _ in range(args.iters):
                    run(batch, xs, y, perm)
                _sync(x)
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
    fig, axes = figure.row(len(results), width=4)
    for ax, (case, impls) in zip(axes, results.items()):
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
    figure.save(fig, path, title)


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=4, help="batches per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--backend", choices=("emulator",), default=None,
                    help="run our kernels on the CPU emulator (checks the launch path; slow)")
    ap.add_argument("--apply-only", action="store_true",
                    help="add rows timing our apply alone, parameters sampled once")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--png", help="write the plot here")
    args = ap.parse_args(argv)
    results, copy_bw = measure(args)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    title = (f"{where}, batch {args.batch}x3x{args.size}x{args.size} float32, "
             f"copy {copy_bw / 1e9:.1f} GB/s, median of {args.rounds} rounds")
    print(f"\n{title}")
    print(f"{'case':<16}{'implementation':<22}{'images/s':>10}{'vs ours':>9}{'of copy bw':>12}")
    for case, impls in results.items():
        for name, row in impls.items():
            print(f"{case:<16}{name:<22}{row['images_per_s']:>10.1f}"
                  f"{row['ratio_to_ours']:>8.2f}x{row['bandwidth_fraction']:>12.1%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": {**info(torch.device(args.device), torch="torch",
                                          torchvision="torchvision", timm="timm",
                                          kornia="kornia", albumentations="albumentations",
                                          dali="nvidia.dali", cupy="cupy"),
                                   "torch_threads": torch.get_num_threads()},
                       "args": vars(args), "copy_bytes_per_s": copy_bw,
                       "results": results}, f, indent=2)
    if args.png:
        plot(results, args.png, title)
    return results, copy_bw


if __name__ == "__main__":
    main()
