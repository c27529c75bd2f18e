"""Run under AddressSanitizer by test_sanitizer.py: fuzzed launches of every kernel through
sanitized emulator builds (AddressSanitizer and UBSan's alignment check). ``--planted`` runs
a deliberate out-of-bounds kernel instead, ``--misaligned`` a deliberate misaligned load."""

import sys
from pathlib import Path

import numpy as np

from dali_regaug.emulator import EmulatorModule
from dali_regaug.launch import EmulatorBackend
from dali_regaug.ops import composite
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask


def planted(kernel):
    mod = EmulatorModule(source=Path(__file__).parent / "cuda" / "half.cu",
                         names=["out_of_bounds", "misaligned"], sanitize=True)
    x, out = np.ones(4 * 4097, np.uint8).view(np.float32), np.zeros(4096, np.float32)
    mod.get_function(kernel)((17,), (256,), (x, out, np.int32(4096)))


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


if __name__ == "__main__":
    if "--planted" in sys.argv:
        planted("out_of_bounds")
    elif "--misaligned" in sys.argv:
        planted("misaligned")
    else:
        fuzz(int(sys.argv[1]))
    print("asan-run-complete")
