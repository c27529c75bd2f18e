"""Command line: ``dali-regaug preview``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dali-regaug",
                                     description="Region-level augmentation for DALI pipelines")
    sub = parser.add_subparsers(dest="command", required=True)
    pv = sub.add_parser("preview", help="write a PNG grid of each operator's output")
    pv.add_argument("images", nargs="*", help="image files (default: the bundled samples)")
    pv.add_argument("--out", type=Path, default=Path("out/preview.png"))
    pv.add_argument("--size", type=int, default=224, help="crop size (default 224)")
    pv.add_argument("--seed", type=int, default=0)
    pv.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    pv.add_argument("--show-params", action="store_true", help="print the sampled parameters")
    args = parser.parse_args(argv)

    from dali_regaug import preview
    from dali_regaug.pipelines import sample_images

    files = args.images or sample_images()
    out = preview.run(files, out=args.out, size=args.size, seed=args.seed, device=args.device,
                      show_params=args.show_params)
    print(f"wrote {out} ({len(files)} images x {len(preview.DEFAULT_OPS) + 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
