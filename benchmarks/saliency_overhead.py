"""Cost of saliency-guided augmentation, measured in one run: the training step with each
saliency producer against the plain step, and ``keep_cutout`` against ``cutout`` in the CPU
DALI pipeline.

    python -m benchmarks.saliency_overhead [--batch 32] [--size 112] [--rounds 5] [--json F]

The multi-node bank's exchange is timed too: the all-gather of one step's updates between
two gloo processes on this machine (``--no-gather`` skips it).

Steps: ResNet-18 on a synthetic batch already in memory (no loader, so only the step and
the producer are timed), SGD, the producer's maps written to a :class:`SaliencyBank`; on
CUDA when present (AMP, channels-last, as ``train``), else CPU (float32). Pipeline: the
training pipeline of ``pipeline_overhead`` with ``cutout`` or ``keep_cutout`` (its bank full
of maps); skipped where DALI is not installed. Rounds interleave the variants; each figure
is the median over rounds, and each ratio the median of the rounds' ratios to the baseline
measured in the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from .machine import info
from dali_regaug.saliency import SaliencyBank
from dali_regaug.train import Precision, SaliencyStep, train_step

PRODUCERS = ("none", "free", "vanilla", "lowres", "gradcam")
# Splits free saliency's cost: the input gradient alone, without the maps and the bank.
PARTS = ("input gradient only",)


def _gather_worker(rank, world, port, batch, size, iters, out):
    import torch.distributed as dist

    from dali_regaug.saliency import shared

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    rs = np.random.default_rng(rank)
    with SaliencyBank(batch * world, size) as bank:
        update = bank.prepare(np.arange(rank * batch, (rank + 1) * batch),
                              rs.random((batch, 56, 56), np.float32),
                              np.tile([0, 0, 1, 1.0], (batch, 1)), np.zeros(batch))
        shared.gather(update)  # warm
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            shared.gather(update)
        if rank == 0:
            out.put((time.perf_counter() - t0) / iters)
    dist.destroy_process_group()


def gather_cost(batch: int, size: int = 16, world: int = 2, iters: int = 20) -> dict:
    """The multi-node bank's per-step exchange (:func:`dali_regaug.saliency.shared.gather`)
    between ``world`` CPU processes over gloo on this machine: ms per step and bytes per
    sample. Over a network (or NCCL) the bytes are what scales."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.SimpleQueue()
    procs = [ctx.Process(target=_gather_worker, args=(r, world, port, batch, size, iters, out))
             for r in range(world)]
    for p in procs:
        p.start()
    seconds = out.get()
    for p in procs:
        p.join()
    return {"ms_per_step": seconds * 1e3, "bytes_per_sample": 8 + 2 * 4 * size * size,
            "batch_per_rank": batch, "world": world, "backend": "gloo"}


class _GradientOnly(SaliencyStep):
    def update(self, x, y, info, prec):
        pass


def step_times(args, device):
    """Seconds per training step of each producer (median over rounds)."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).to(device)
    prec = Precision.choose(device)
    if prec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=prec.scale_loss)
    n = args.batch
    x = torch.randn(n, 3, args.size, args.size, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    info = {"sample_id": torch.arange(n), "crop": torch.tensor([[0.0, 0.0, 1.0, 1.0]] * n),
            "flip": torch.zeros(n, dtype=torch.bool)}
    runs = {name: [] for name in PRODUCERS + PARTS}
    with SaliencyBank(n, 16) as bank:
        steps = {name: SaliencyStep(name, model, bank, "layer4") if name != "none" else None
                 for name in PRODUCERS}
        steps["input gradient only"] = _GradientOnly("free", model, bank, "layer4")

        def run(producer, count):
            for _ in range(count):
                train_step(model, x, y, info, opt=opt, scaler=scaler, prec=prec,
                           producer=producer)
            if device.type == "cuda":
                torch.cuda.synchronize()

        for producer in steps.values():
            run(producer, 2)  # warm-up: allocator, cuDNN autotuning
        for r in range(args.rounds):
            order = list(steps.items())
            for name, producer in order if r % 2 == 0 else order[::-1]:  # no position bias
                start = time.perf_counter()
                run(producer, args.steps)
                runs[name].append((time.perf_counter() - start) / args.steps)
            print(f"steps: round {r + 1}/{args.rounds} done", flush=True)
    return {name: {"seconds": statistics.median(v), "ratio": paired_ratio(v, runs["none"]),
                   "runs": v} for name, v in runs.items()}


def paired_ratio(runs, base):
    """Median over rounds of each round's ratio to the baseline of the same round: drifts
    of a shared machine between rounds cancel."""
    return statistics.median(a / b for a, b in zip(runs, base))


def pipeline_rates(args):
    """Images/s of the CPU pipeline with no operator, ``cutout`` and ``keep_cutout``;
    ``None`` without DALI."""
    try:
        from .pipeline_overhead import interleaved
    except ImportError:
        return None
    import functools

    from dali_regaug.pipelines import sample_images, train_pipeline

    files = sample_images() * 16
    side = args.size // 2
    variants = {"none": None, "cutout": f"cutout(size={side})",
                "keep_cutout": f"keep_cutout(size={side},tau=0.6)"}
    rs = np.random.default_rng(0)
    with SaliencyBank(len(files), 16) as bank:
        bank.update(np.arange(len(files)), rs.random((len(files), 16, 16), np.float32),
                    np.tile([0.0, 0.0, 1.0, 1.0], (len(files), 1)), np.zeros(len(files)))
        builds = {name: functools.partial(train_pipeline, files, batch_size=args.batch,
                                          size=args.size, device="cpu", augment=spec,
                                          num_threads=args.threads, seed=0, bank=bank)
                  for name, spec in variants.items()}
        runs = interleaved(builds, args.rounds, args.iters, "pipeline: ")
    return {name: {"images_per_s": statistics.median(v),
                   "cost_vs_none": 1 - paired_ratio(v, runs["none"]), "runs": v}
            for name, v in runs.items()} | {
        "keep_cutout_vs_cutout": 1 - paired_ratio(runs["keep_cutout"], runs["cutout"])}


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--steps", type=int, default=4, help="training steps per timed run")
    ap.add_argument("--iters", type=int, default=16, help="pipeline batches per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--no-pipeline", action="store_true",
                    help="only the training step, not the CPU DALI pipeline")
    ap.add_argument("--no-gather", action="store_true",
                    help="skip the multi-node bank exchange (two gloo processes)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)

    steps = step_times(args, device)
    print(f"\ntraining step, ResNet-18, batch {args.batch}, {args.size}x{args.size}, {device}, "
          f"median of {args.rounds} rounds x {args.steps} steps")
    print(f"{'producer':<22}{'ms/step':>10}{'ratio':>8}")
    for name, row in steps.items():
        print(f"{name:<22}{row['seconds'] * 1e3:>10.1f}{row['ratio']:>8.3f}")
    gather = None if args.no_gather else gather_cost(args.batch)
    if gather is not None:
        print(f"\nmulti-node bank exchange, {gather['world']} gloo processes, batch "
              f"{args.batch} per rank: {gather['ms_per_step']:.2f} ms per step, "
              f"{gather['bytes_per_sample']} bytes per sample")
    pipeline = None if args.no_pipeline else pipeline_rates(args)
    if pipeline is None:
        print("\npipeline: skipped" + ("" if args.no_pipeline else " (DALI is not installed)"))
    else:
        print(f"\nCPU pipeline, batch {args.batch}, {args.size}x{args.size}")
        for name in ("none", "cutout", "keep_cutout"):
            row = pipeline[name]
            print(f"{name:<12}{row['images_per_s']:>10.1f} img/s  cost {row['cost_vs_none']:.1%}")
        print(f"keep_cutout vs cutout: {pipeline['keep_cutout_vs_cutout']:.1%} slower")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info(device, torch="torch", dali="nvidia.dali"),
                       "args": vars(args), "steps": steps, "gather": gather,
                       "pipeline": pipeline}, f, indent=2)
    return steps, pipeline


if __name__ == "__main__":
    main()
