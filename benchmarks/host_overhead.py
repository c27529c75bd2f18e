"""Host time that would hide the GPU: the guided samplers per batch, and one ``apply`` with
the kernel launch stubbed out (CPU) or real (CUDA, without a sync; then also the kernel
alone, replayed with its arguments, timed by CUDA events).

    python -m benchmarks.host_overhead [--device cpu|cuda] [--batch 256] [--size 224]

Targets (issue 17), one core: each guided sampler (keep_cutout, keep_paste, keep_cutmix,
cam_erasing) <= 10 ms per batch of 256 at 224x224; one apply <= 0.15 ms of host time at
batch 256 (a stacked 256x3x224x224 float32 batch). A list of samples (as DALI hands them)
costs per-sample pointer reads on top; it is measured too.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dali_regaug import launch
from dali_regaug.ops import catalog

from .machine import info

GUIDED = {"keep_cutout": {"size": 112}, "keep_paste": {"size": 112}, "keep_cutmix": {},
          "cam_erasing": {}}
APPLIED = {"grid_mask": {}, "random_erasing": {"fill": "random"}, "cutout": {"size": 112},
           "cutmix": {}, "mixup": {}}
SAMPLER_TARGET_MS, APPLY_TARGET_MS = 10.0, 0.15


class StubbedLaunch(launch.EmulatorBackend):
    """Everything a launch does on the host, with the kernel call itself a no-op."""

    def kernel(self, op, name):
        return lambda grid, block, args: None


def replaying():
    """CuPy's backend, keeping the last kernel launched and its arguments so that the
    kernel alone can be timed again (its buffers stay in CuPy's pool, which nothing else
    allocates from while it replays)."""

    class Replay(launch.CupyBackend):
        last = None

        def kernel(self, op, name):
            fn = super().kernel(op, name)

            def run(grid, block, args):
                Replay.last = (fn, grid, block, args)
                fn(grid, block, args)
            return run

    return Replay()


def best(fn, rounds: int, iters: int) -> float:
    """Milliseconds per call: the best round's mean (host noise only adds)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        times.append((time.perf_counter() - t0) / iters)
    return min(times) * 1e3


def samplers(batch: int, size: int, rounds: int, iters: int) -> dict:
    """ms per batch of each guided sampler, maps from a bank, random crops and flips."""
    from dali_regaug.saliency import SaliencyBank

    rs = np.random.default_rng(0)
    lo, hi = rs.uniform(0, 0.3, (batch, 2)), rs.uniform(0.6, 1.0, (batch, 2))
    named = {"shapes": [(size, size, 3)] * batch, "sample_ids": list(np.arange(batch)),
             "crops": list(np.concatenate([lo, hi], 1)), "flips": list(rs.integers(0, 2, batch)),
             "partners": [np.array(i) for i in rs.permutation(batch)]}
    out = {}
    with SaliencyBank(batch, 16) as bank:
        bank.update(np.arange(batch), rs.random((batch, 16, 16)).astype(np.float32),
                    np.tile([0, 0, 1, 1.0], (batch, 1)), np.zeros(batch))
        for name, kwargs in GUIDED.items():
            op = catalog.get(name).build(bank=bank, seed=0, **kwargs)
            op.sample_named(named)  # warm
            out[name] = best(lambda: op.sample_named(named), rounds, iters)
    return out


def _replay_ms(xp, fn, grid, block, args, iters: int) -> float:
    """Device ms per launch of kernel ``fn`` replayed ``iters`` times (CUDA events)."""
    xp.cuda.Device().synchronize()
    start, end = xp.cuda.Event(), xp.cuda.Event()
    start.record()
    for _ in range(iters):
        fn(grid, block, args)
    end.record()
    end.synchronize()
    return xp.cuda.get_elapsed_time(start, end) / iters


def applies(batch: int, size: int, device: str, rounds: int, iters: int, sweep=()) -> dict:
    """Host ms per apply, a stacked batch and a list of samples; on CUDA also the kernel
    alone, as launched and (``sweep``) with other numbers of blocks per sample."""
    if device == "cuda":
        import cupy

        xp, backend = cupy, replaying()
        x = cupy.random.standard_normal((batch, 3, size, size), dtype=cupy.float32)
    else:
        xp, backend = np, StubbedLaunch()
        x = np.zeros((batch, 3, size, size), np.float32)
    partner, samples = x[::-1].copy(), list(x)
    hw = np.full((batch, 2), size)
    out = {}
    for name, kwargs in APPLIED.items():
        op = catalog.get(name).build(layout="CHW", seed=0, **kwargs)
        p = op.draw(hw)
        two = name in ("cutmix", "mixup")
        stacked = (lambda: op.apply(x, partner, p, backend=backend)) if two else \
            (lambda: op.apply(x, p, backend=backend))
        listed = (lambda: op.apply(samples, samples[::-1], p, backend=backend)) if two else \
            (lambda: op.apply(samples, p, backend=backend))
        stacked(), listed()  # warm (compiles on a GPU)
        row = {"stacked_ms": best(stacked, rounds, iters), "list_ms": best(listed, rounds, iters)}
        if device == "cuda":  # host time without a sync above; the kernel alone here
            kept = stacked()  # the output stays alive while its kernel replays
            fn, grid, block, kernel_args = backend.last
            assert kept.shape == x.shape
            row["device_ms"] = _replay_ms(xp, fn, grid, block, kernel_args, iters)
            row["blocks_per_sample"] = grid[0]
            row["sweep_ms"] = {gx: _replay_ms(xp, fn, (gx, *grid[1:]), block, kernel_args, iters)
                               for gx in sweep}
            del kept
        out[name] = row
    return out


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cpu: the kernel launch stubbed out; cuda: real launches, no sync")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--sweep", type=int, nargs="*", default=[],
                    help="CUDA: also time each kernel alone with these blocks per sample "
                         "(e.g. 392 196 98 49 25 13 7)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.sweep and args.device != "cuda":
        ap.error("--sweep times kernels on the GPU: add --device cuda")
    guided = samplers(args.batch, args.size, args.rounds, max(1, args.iters // 4))
    applied = applies(args.batch, args.size, args.device, args.rounds, args.iters,
                      args.sweep)
    print(f"\nguided samplers, batch {args.batch} at {args.size}x{args.size}, ms per batch "
          f"(target <= {SAMPLER_TARGET_MS:g})")
    for name, ms in guided.items():
        print(f"  {name:<14}{ms:8.2f}")
    how = "real launch, no sync" if args.device == "cuda" else "launch stubbed"
    print(f"\nhost ms per apply ({how}"
          f"; target <= {APPLY_TARGET_MS:g} stacked)")
    print(f"  {'operator':<16}{'stacked':>9}{'list':>9}" +
          (f"{'device':>9}" if args.device == "cuda" else ""))
    for name, row in applied.items():
        print(f"  {name:<16}{row['stacked_ms']:9.3f}{row['list_ms']:9.3f}" +
              (f"{row['device_ms']:9.3f}" if "device_ms" in row else ""))
    if args.sweep:
        print(f"\nkernel alone, ms per batch, by blocks per sample (as launched: "
              f"{next(iter(applied.values()))['blocks_per_sample']})")
        print(f"  {'operator':<16}" + "".join(f"{gx:>8}" for gx in args.sweep))
        for name, row in applied.items():
            print(f"  {name:<16}" + "".join(f"{ms:8.3f}" for ms in row["sweep_ms"].values()))
    record = {"machine": info(), "args": vars(args), "sampler_ms": guided, "apply_ms": applied,
              "targets": {"samplers_within": all(v <= SAMPLER_TARGET_MS for v in guided.values()),
                          "apply_within": all(r["stacked_ms"] <= APPLY_TARGET_MS
                                              for r in applied.values())}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
    return record


if __name__ == "__main__":
    main()
