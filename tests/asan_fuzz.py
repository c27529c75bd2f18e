"""Run under AddressSanitizer by test_sanitizer.py: fuzzed launches of every kernel through
sanitized emulator builds. ``--planted`` runs a deliberate out-of-bounds kernel instead."""

import sys
from pathlib import Path

import numpy as np

from dali_regaug.emulator import EmulatorModule
from dali_regaug.launch import EmulatorBackend
from dali_regaug.ops import composite
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops import regions


def planted():
    mod = EmulatorModule(source=Path(__file__).parent / "cuda" / "half.cu",
                         names=["out_of_bounds"], sanitize=True)
    x, out = np.ones(4096, np.float32), np.zeros(4096, np.float32)
    mod.get_function("out_of_bounds")((17,), (256,), (x, out, np.int32(4096)))


def fuzz(cases):
    be = EmulatorBackend(sanitize=True)
    rs = np.random.default_rng(0)
    for case in range(cases):
        layout = ["HWC", "CHW"][case % 2]
        dtype = [np.uint8, np.float16, np.float32][case % 3]
        c = int(rs.integers(1, 5))
        hws = [tuple(rs.integers(1, 48, 2)) for _ in range(int(rs.integers(1, 5)))]
        imgs = [np.ascontiguousarray(rs.normal(size=(h, w, c) if layout == "HWC" else (c, h, w))
                                     .astype(dtype)) for h, w in hws]
        fill = ["random", "region", 0.5][case % 3]
        opts = {"block": int(rs.choice([32, 64, 256])), "max_grid_x": int(rs.integers(1, 8)),
                "index": ["i32", "i64"][case % 2]}
        for op in (GridMask(d=(1, 20), rotate=float(rs.uniform(0, 360)), unit_prob=0.5,
                            reverse=bool(case % 2), fill=fill, layout=layout, seed=case),
                   RandomErasing(prob=1.0, count=(1, 4), fill=fill, layout=layout, seed=case),
                   Cutout(size=int(rs.integers(1, 60)), count=3, fill=fill, layout=layout,
                          seed=case)):
            op.apply(imgs, op.draw(np.array(hws)), backend=be, **opts)
        boxes = rs.integers(-5, 60, (len(hws), 3, 4))
        p = composite.params(boxes, rs.integers(0, 4, len(hws)), 0.3, 1.0)
        composite.apply(imgs, [x.copy() for x in imgs], p, layout=layout, backend=be, **opts)
        h, w = hws[0]
        maps = rs.integers(0, 256, (len(hws), h, w)).astype(np.uint8)
        regions.scores(maps, rs.integers(1, 2 * max(h, w), (len(hws), 2)), backend=be,
                       block=int(rs.choice([1, 8, 33])))


if __name__ == "__main__":
    planted() if "--planted" in sys.argv else fuzz(int(sys.argv[1]))
    print("asan-run-complete")
