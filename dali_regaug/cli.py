"""Command line: ``dali-regaug ops | preview | train | make-sample-data | bench``.

Mistakes (a spec typo, an unknown argument, a missing file) are one line on stderr; run
with ``--debug`` for the traceback."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

from dali_regaug import spec

BENCHMARKS = {  # dali-regaug bench NAME -> module of dali_regaug.benchmarks (benchmarks/)
    "operators": "operators", "scaling": "scaling", "loader": "loader_vs_torchvision",
    "pipeline": "pipeline_overhead", "detection": "detection_overhead",
    "saliency": "saliency_overhead", "crowd": "crowd", "gpu": "gpu"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dali-regaug",
                                     description="Region-level augmentation for DALI pipelines")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)
    ops = sub.add_parser("ops", help="list the operators, their arguments (defaults, ranges, "
                                     "meanings) and outputs")
    ops.add_argument("name", nargs="?", help="one operator (or alias): its full description")
    _preview_args(sub.add_parser("preview", help="write a PNG grid of augmented images"))
    _train_args(sub.add_parser("train", help="train a ResNet from a DALI pipeline"))
    md = sub.add_parser("make-sample-data",
                        help="build a small ImageNet-layout dataset from packaged photos")
    md.add_argument("--out", type=Path, default=None,
                    help="folder (default: $DALI_REGAUG_DATA or "
                         "~/.cache/dali-regaug/sample-imagenet)")
    md.add_argument("--train-per-class", type=int, default=32)
    md.add_argument("--val-per-class", type=int, default=8)
    md.add_argument("--seed", type=int, default=0)
    md.add_argument("--coco", action="store_true",
                    help="a COCO detection sample instead (default folder: coco/ under the "
                         "classification sample's)")
    md.add_argument("--train-images", type=int, default=64, help="with --coco")
    md.add_argument("--val-images", type=int, default=16, help="with --coco")
    bench = sub.add_parser("bench", help="run a benchmark: NAME [its options] (NAME -h for "
                                         "them); the same as python -m benchmarks.MODULE")
    bench.add_argument("name", choices=list(BENCHMARKS))
    bench.add_argument("options", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        for text in _specs(args):
            spec.parse(text)  # a typo is found before anything is built or trained
        return {"ops": _ops, "preview": _preview, "train": _train, "make-sample-data": _make,
                "bench": _bench}[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as err:
        if args.debug:
            raise
        # the messages name the argument, file or sample; the traceback is behind --debug
        print(f"dali-regaug {args.command}: {_one_line(err)}", file=sys.stderr)
        return 1


def _one_line(err) -> str:
    """The message of ``err`` on one line: for DALI's long pipeline errors, the innermost
    ``...Error: message`` they carry (the operator's own), else their first line."""
    text = str(err).strip()
    if "\n" not in text:
        return text
    inner = re.findall(r"\b\w*(?:Error|Exception): (.+)", text)
    return (inner[-1] if inner else text.splitlines()[0]) + " (--debug for the whole error)"


def _specs(args) -> list:
    augment = getattr(args, "augment", None)
    return [augment] if isinstance(augment, str) else list(augment or [])


def _ops(args) -> int:
    from dali_regaug.declare import REQUIRED
    from dali_regaug.ops import catalog

    if args.name:
        decl = catalog.get(args.name)
        aliases = f" (also {', '.join(decl.aliases)})" if decl.aliases else ""
        print(f"{decl.name}{aliases}\n\n{decl.doc()}")
        return 0
    for name, decl in catalog.operators().items():
        print(f"{name}: {decl.summary}" + (f" (also {', '.join(decl.aliases)})"
                                            if decl.aliases else ""))
        needs = [p.name for p in decl.all_inputs if not p.optional]
        needs += [a.name for a in decl.all_args if not a.spec and a.default is REQUIRED]
        print("    needs: " + ", ".join(["images", *needs]))
        for a in decl.all_args:
            if a.spec:
                each = " (or per sample)" if a.per_sample else ""
                print(f"    {a.name}={a.shown_default()}  {a.allowed()}{each}: {a.meaning}")
        print(f"    -> {decl.returns()}")
    print("\nIn specs: p=prob, ramp=E (a linear ramp of prob), a-b ranges, [a,b,c] sequences;"
          " dali-regaug ops NAME for one operator")
    return 0


def _bench(args) -> int:
    module = importlib.import_module(f"dali_regaug.benchmarks.{BENCHMARKS[args.name]}")
    module.main(args.options, prog=f"dali-regaug bench {args.name}")
    return 0


def _preview_args(pv):
    from dali_regaug.preview import DEFAULT_SPECS

    pv.add_argument("images", nargs="*", help="image files (default: one per class of --data)")
    pv.add_argument("--data", type=Path, default=None,
                    help="dataset folder (default: the sample dataset, built if missing)")
    pv.add_argument("--augment", action="append", default=None, metavar="SPEC",
                    help=f"one row per spec, repeatable (default: {' '.join(DEFAULT_SPECS)}); "
                         f"operators and arguments: dali-regaug ops")
    pv.add_argument("--out", type=Path, default=Path("out/preview.png"))
    pv.add_argument("--columns", type=int, default=5, help="images when picked from --data")
    pv.add_argument("--size", type=int, default=224, help="crop size (default 224)")
    pv.add_argument("--seed", type=int, default=0)
    pv.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    pv.add_argument("--show-params", action="store_true", help="print the sampled parameters")
    pv.add_argument("--saliency", action="store_true",
                    help="rows of the saliency-guided operators, on model-free spectral "
                         "residual maps (shown in a row of their own)")
    pv.add_argument("--coco", action="store_true",
                    help="detection: COCO crops with their boxes drawn (--data is a COCO "
                         "root; default: the COCO sample, built if missing)")


def _preview(args) -> int:
    from dali_regaug import preview, sample_coco, sample_data
    from dali_regaug.pipelines import scan

    if args.coco:
        specs = args.augment or preview.COCO_SPECS
        out = preview.run_coco(args.data or sample_coco.make(), out=args.out, specs=specs,
                               columns=args.columns, size=args.size, seed=args.seed,
                               device=args.device)
        print(f"wrote {out} ({args.columns} images x {len(specs) + 1} rows)")
        return 0

    files = args.images
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"no such image file: {', '.join(missing)}")
    if not files:
        ds = scan((args.data or sample_data.make()) / "val")
        firsts = {label: f for f, label in reversed(list(zip(ds.files, ds.labels)))}
        files = [firsts[k] for k in sorted(firsts)][:args.columns]
    specs = args.augment or (preview.SALIENCY_SPECS if args.saliency else preview.DEFAULT_SPECS)
    out = preview.run(files, out=args.out, specs=specs, size=args.size, seed=args.seed,
                      device=args.device, show_params=args.show_params)
    rows = len(specs) + 1 + preview.guided(specs)  # guided specs add the maps' row
    print(f"wrote {out} ({len(files)} images x {rows} rows)")
    return 0


def _train_args(tr):
    from dali_regaug.config import Config

    d = Config()
    tr.add_argument("--data", default=None,
                    help="folder with train/ and val/ in ImageNet layout (default: the sample "
                         "dataset, built if missing)")
    tr.add_argument("--out", default=d.out, help=f"checkpoint and metrics folder ({d.out})")
    tr.add_argument("--arch", choices=("resnet18", "resnet50"), default=d.arch)
    tr.add_argument("--epochs", type=int, default=d.epochs)
    tr.add_argument("--batch-size", type=int, default=d.batch_size)
    tr.add_argument("--size", type=int, default=d.size, help=f"crop size ({d.size})")
    tr.add_argument("--lr", type=float, default=d.lr, help="learning rate for batch 256")
    tr.add_argument("--weight-decay", type=float, default=d.weight_decay)
    tr.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    tr.add_argument("--augment", default=d.augment,
                    help=f"spec (default: {d.augment!r}); operators and arguments: "
                         f"dali-regaug ops")
    tr.add_argument("--no-ramp", dest="ramp", action="store_false",
                    help="keep GridMask's probability constant (default: it rises linearly "
                         "to its prob over the run, as in the paper)")
    tr.add_argument("--device", choices=("auto", "cpu", "gpu"), default=d.device)
    tr.add_argument("--seed", type=int, default=d.seed)
    tr.add_argument("--workers", type=int, default=None, help="DALI threads (CPU cores)")
    tr.add_argument("--skip-corrupt", action="store_true",
                    help="leave out images that do not decode instead of failing")
    tr.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                    help="mixed precision, float16 on GPU and bfloat16 on CPU (default: on "
                         "for GPU only)")
    tr.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                    help="channels-last model and inputs (default: on for GPU)")
    tr.add_argument("--saliency", choices=("free", "vanilla", "lowres", "gradcam"),
                    default=None, help="saliency producer that fills the bank the guided "
                                       "operators of --augment read (keep_cutout, ...)")
    tr.add_argument("--saliency-size", type=int, default=d.saliency_size,
                    help=f"side of the bank's maps ({d.saliency_size})")
    tr.add_argument("--gradcam-layer", default=d.gradcam_layer,
                    help=f"with --saliency gradcam ({d.gradcam_layer})")
    tr.add_argument("--resume", default=None, help="checkpoint.pt to continue from")
    tr.add_argument("--no-progress", dest="progress", action="store_false")


def _train(args) -> int:
    from dataclasses import fields

    from dali_regaug.train import Config, fit

    fit(Config(**{f.name: getattr(args, f.name) for f in fields(Config)}))
    return 0


def _make(args) -> int:
    from dali_regaug import sample_coco, sample_data

    if args.coco:
        root = sample_coco.make(args.out, train=args.train_images, val=args.val_images,
                                seed=args.seed)
        print(f"COCO sample dataset in {root}")
        return 0
    root = sample_data.make(args.out, train_per_class=args.train_per_class,
                            val_per_class=args.val_per_class, seed=args.seed)
    print(f"sample dataset in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
