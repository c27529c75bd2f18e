"""The device check: every GPU-only figure of the project in one command of at most three
minutes, on a machine with a CUDA GPU, CuPy and torch (DALI optional: its wheel is often
not there). From a source checkout it needs no install.

    make gpu-check            python -m benchmarks.gpu [--out out/gpu] [--batch 256]
    python -m benchmarks.gpu --device cpu --quick     (the dry form: the same steps on the
                                                       host, kernels on the emulator)

1. ``pytest -m gpu tests/test_gpu.py``: the kernels through CuPy against NumPy.
2. Each kernel alone on a ``batch x 3 x 224 x 224`` float32 batch: its device time (CUDA
   events) as a fraction of the copy bandwidth, and the host time of one ``apply``
   (``benchmarks.host_overhead``), with the guided samplers' host time per batch.
3. Ours against timm, torchvision and kornia where installed
   (``benchmarks.operators --apply-only``).
4. The saliency producers' training step (``benchmarks.saliency_overhead``).
5. With DALI: the GPU pipeline with and without a region operator.

Writes ``<out>/gpu.json`` (machine, every part's figures, the targets checked) and prints a
short table of the targets. Targets: kernels at >= 80% of the copy bandwidth; host time
per apply <= 0.15 ms and per guided batch <= 10 ms (issue 17); >= 20x timm's GPU
RandomErasing; <= 2% pipeline throughput lost to one region operator.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from . import host_overhead, operators, saliency_overhead
from .machine import info

SAMPLED = ("grid_mask", "random_erasing", "cutout")  # pipeline_overhead's region operators
SOURCES = {"cutmix": 2, "mixup": 2}  # batches each kernel reads; it writes one


def gpu_tests(out: Path) -> dict:
    """Run the GPU-marked tests; their outcome counts from pytest's JUnit report."""
    import xml.etree.ElementTree as ET

    if not Path("tests/test_gpu.py").exists():
        return {"skipped": "tests/test_gpu.py not found: run from the repository root"}
    report = out / "gpu_tests.xml"
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p",
                          "no:cacheprovider", f"--junitxml={report}", "tests/test_gpu.py"])
    if not report.exists():  # no pytest in this Python, or it could not start: say so, go on
        return {"exit_code": rc, "skipped": f"pytest gave no report (exit code {rc}): is "
                                            f"pytest installed for {sys.executable}?"}
    suite = ET.parse(report).getroot()
    report.unlink()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {"exit_code": rc, **counts, "passed": counts["tests"] - counts["failures"] -
            counts["errors"] - counts["skipped"]}


def kernels(applied: dict, copy_bw: float, batch: int, size: int) -> dict:
    """Each kernel's device time as a fraction of the copy bandwidth (bytes it must move:
    its sources read, its output written)."""
    nbytes = batch * 3 * size * size * 4
    return {name: (1 + SOURCES.get(name, 1)) * nbytes / (row["device_ms"] / 1e3) / copy_bw
            for name, row in applied.items() if "device_ms" in row}


def targets(record: dict) -> dict:
    """The targets against the figures measured."""
    host = record["host"]
    result = {"kernel_bandwidth_fraction": record["kernel_bandwidth_fraction"] or
              "dry run: no device time"}
    if record["kernel_bandwidth_fraction"]:
        result["kernels_at_80pct_of_copy"] = all(
            v >= 0.8 for v in record["kernel_bandwidth_fraction"].values())
    result["host_ms_per_apply_within_0.15"] = host["targets"]["apply_within"]
    result["guided_samplers_within_10ms"] = host["targets"]["samplers_within"]
    erasing = record["operators"]["results"].get("random_erasing", {})
    if "timm" in erasing:
        vs_timm = erasing["dali-regaug"]["images_per_s"] / erasing["timm"]["images_per_s"]
        result |= {"random_erasing_vs_timm": vs_timm, "random_erasing_20x_timm": vs_timm >= 20}
    pipeline = record["pipeline"]
    if isinstance(pipeline, dict):
        loss = {k: v["cost"] for k, v in pipeline.items() if k in SAMPLED}
        result |= {"pipeline_loss": loss,
                   "pipeline_within_2pct": all(v <= 0.02 for v in loss.values())}
    return result


def table(record: dict) -> None:
    """The short table: each operator's figures, then the targets."""
    host, frac = record["host"], record["kernel_bandwidth_fraction"]
    print(f"\n{'operator':<16}{'host ms/apply':>14}{'device ms':>11}{'of copy bw':>12}")
    for name, row in host["apply_ms"].items():
        dev = f"{row['device_ms']:11.3f}" if "device_ms" in row else f"{'-':>11}"
        share = f"{frac[name]:12.1%}" if name in frac else f"{'-':>12}"
        print(f"{name:<16}{row['stacked_ms']:14.3f}{dev}{share}")
    print(f"\n{'guided sampler':<16}{'host ms/batch':>14}")
    for name, ms in host["sampler_ms"].items():
        print(f"{name:<16}{ms:14.2f}")
    tests = record["tests"]
    if isinstance(tests, dict) and "passed" in tests:
        print(f"\ngpu tests: {tests['passed']} passed, {tests['failures']} failed, "
              f"{tests['errors']} errors, {tests['skipped']} skipped")
    print("targets: " + ", ".join(f"{k}={v}" for k, v in record["targets"].items()
                                  if isinstance(v, bool)))


def main(argv=None, prog=None):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("out/gpu"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a check, not figures)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: the dry form, the same steps on the host, our kernels on the "
                         "emulator and the launch stubbed (the figures mean nothing)")
    ap.add_argument("--skip-tests", action="store_true")
    args = ap.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("benchmarks.gpu: no CUDA device visible to torch; this is the GPU run "
                 "(the dry form is --device cpu)")
    args.out.mkdir(parents=True, exist_ok=True)
    rounds = 1 if args.quick else 5
    record = {"machine": info(torch.device(args.device), torch="torch", cupy="cupy",
                              dali="nvidia.dali", timm="timm", kornia="kornia"),
              "args": {k: str(v) for k, v in vars(args).items()}}
    record["tests"] = "skipped" if args.skip_tests else gpu_tests(args.out)
    record["host"] = host_overhead.main(
        ["--device", args.device, "--batch", str(args.batch), "--size", str(args.size),
         "--rounds", str(rounds), "--iters", "4" if args.quick else "20"])
    copy_bw = operators.copy_bandwidth(
        torch.randn(args.batch, 3, args.size, args.size, device=args.device), reps=20)
    record["copy_bytes_per_s"] = copy_bw
    record["kernel_bandwidth_fraction"] = kernels(record["host"]["apply_ms"], copy_bw,
                                                  args.batch, args.size)
    ops, _ = operators.main(
        ["--device", args.device, "--batch", str(args.batch), "--size", str(args.size),
         "--iters", "1" if args.quick else "10", "--apply-only", "--rounds", str(rounds),
         *(["--backend", "emulator"] if args.device == "cpu" else [])])
    record["operators"] = {"results": ops}
    steps, _ = saliency_overhead.main(
        ["--device", args.device, "--batch", "8" if args.quick else "64", "--size", "112",
         "--steps", "1" if args.quick else "4", "--iters", "1", "--rounds", str(rounds),
         "--no-pipeline", "--no-gather"])
    record["saliency_steps"] = steps
    pipeline = "skipped: DALI is not installed"
    if importlib.util.find_spec("nvidia.dali") is not None and args.device == "cuda":
        from . import pipeline_overhead  # imports DALI

        pipeline, _ = pipeline_overhead.main(["--device", "gpu", "--rounds", str(rounds)])
    record["pipeline"] = pipeline
    record["targets"] = targets(record)
    (args.out / "gpu.json").write_text(json.dumps(record, indent=2))
    table(record)
    print(f"wrote {args.out / 'gpu.json'}")
    return record


if __name__ == "__main__":
    main()
