"""GridMask: Chen, Liu, Zhou, Liu, Jia, "GridMask Data Augmentation", arXiv:2001.04086 (2020).

The mask is a grid of units of size ``d``; in each unit a square of side ``d - l`` is
dropped, where ``l = ceil(r * d)`` is the kept length along each axis (Eq. 3: ``r`` is the
kept ratio of a unit's edge, so whole units keep ``1 - (1 - r)**2`` of their area). Per
sample, ``d`` is drawn from ``[d_min, d_max]``, the offsets ``delta_x, delta_y`` from
``[0, d - 1]`` and the rotation from ``[0, rotate)`` degrees. ``reverse`` keeps what the
default drops (Table 5); ``unit_prob`` drops each unit's square only with that probability
(random GridMask, Table 6); ``prob`` is the chance to apply the mask at all, and may be a
:class:`dali_regaug.schedule.Linear` ramp (Sec. 3.2's increasing-probability scheme).

Readings chosen:

* Within a unit, the dropped square sits at the unit's origin, at ``delta + k * d`` along
  each axis, as the official implementation places it; the random offsets make the
  position within a unit immaterial.
* ``l = ceil(r * d)`` is computed on ``r * d`` rounded to 9 decimals, so that e.g.
  ``r = 0.6, d = 100`` gives 60, not the 61 that floating point error would give.
* Rotation is evaluated analytically at each pixel (the pixel centre is rotated back into
  the grid's frame about the image centre), so the grid covers the whole image; the
  official code rotates a 1.5x-larger raster mask instead.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import fill as fill_mod
from dali_regaug import records, rng
from dali_regaug.declare import Arg, Operator
from dali_regaug.ops.base import FILL_MEANING, MaskOp, prob_arg

PARAMS_DTYPE = records.GRID_MASK
UNIT_ONE = records.UNIT_ONE


class GridMask(MaskOp):
    """GridMask; see the module docstring and :func:`dali_regaug.fn.grid_mask`."""

    kernel = "grid_mask"
    params_dtype = PARAMS_DTYPE
    ARGS = (Arg("r", 0.6, "kept fraction of a unit's edge; whole units keep 1 - (1 - r)**2",
                "float", 0.0, 1.0, per_sample=True),
            Arg("d", (96, 224), "unit size in pixels, drawn per sample from [d_min, d_max]",
                "int_interval", 1, 2**20),
            Arg("rotate", 0.0, "rotation drawn per sample from [0, rotate) degrees", "float",
                0.0, 360.0),
            Arg("reverse", False, "keep the squares and drop the rest", "bool"),
            Arg("unit_prob", 1.0, "chance that each unit's square is dropped (random GridMask)",
                "float", 0.0, 1.0, per_sample=True),
            prob_arg(1.0), Arg("fill", 0.0, FILL_MEANING, "fill"))

    def sample(self, hw, keys, prob, view=None):
        n = len(keys)
        u = rng.uniform(keys, 5)
        p = np.zeros(n, PARAMS_DTYPE)
        d = self.d[0] + np.floor(u[:, 1] * (self.d[1] - self.d[0] + 1)).astype(np.int64)
        angle = u[:, 4] * self.rotate
        p["key"] = keys
        p["apply"] = u[:, 0] < prob
        p["d"] = d
        p["keep"] = np.minimum(np.ceil(np.round(self.r * d, 9)), d)
        p["off_x"] = np.floor(u[:, 2] * d)
        p["off_y"] = np.floor(u[:, 3] * d)
        p["reverse"] = self.reverse
        p["rotated"] = angle != 0
        p["unit_threshold"] = np.round(np.asarray(self.unit_prob) * UNIT_ONE)
        p["cos_t"] = np.cos(np.deg2rad(angle))
        p["sin_t"] = np.sin(np.deg2rad(angle))
        p["angle"] = angle
        return p

    def explain(self, params, hw):
        def one(r):
            if not r["apply"]:
                return "unchanged"
            text = f"unit d={r['d']}, kept {r['keep']} of each unit's edge, offset " \
                f"(y={r['off_y']}, x={r['off_x']}), rotated {float(r['angle']):.1f} degrees"
            if r["reverse"]:
                text += ", reversed"
            if r["unit_threshold"] < UNIT_ONE:
                text += f", each unit dropped with p={r['unit_threshold'] / UNIT_ONE:.3f}"
            return text
        return [one(r) for r in params]

    def mask(self, p, h, w):
        col = lambda f: p[f].astype(np.int64)[:, None, None]  # noqa: E731
        gx, gy = np.arange(w)[None, None, :], np.arange(h)[:, None][None]
        rot = p["rotated"] != 0
        if rot.any():  # float32 operations in the kernel's order (built with --fmad=false)
            f32 = np.float32
            cx, cy = f32(w) * f32(0.5), f32(h) * f32(0.5)
            px = (np.arange(w, dtype=f32) + f32(0.5)) - cx
            py = (np.arange(h, dtype=f32) + f32(0.5)) - cy
            c, s = p["cos_t"][:, None, None], p["sin_t"][:, None, None]
            rx = np.floor((c * px[None, None, :] + s * py[None, :, None]) + cx).astype(np.int64)
            ry = np.floor((c * py[None, :, None] - s * px[None, None, :]) + cy).astype(np.int64)
            r3 = rot[:, None, None]
            gx, gy = np.where(r3, rx, gx), np.where(r3, ry, gy)
        d, side = col("d"), col("d") - col("keep")
        ux, uy = (gx - col("off_x")) // d, (gy - col("off_y")) // d
        # Unrotated, both factors are 1-D; the (G, H, W) mask is then built by one operation.
        drop = ((gx - col("off_x") - ux * d) < side) & ((gy - col("off_y") - uy * d) < side)
        thr = p["unit_threshold"].astype(np.uint64)[:, None, None]
        random_units = bool((thr < UNIT_ONE).any())
        unit = None  # full-size unit codes, built only when a hash or the fill needs them
        if random_units or self.fill.mode == fill_mod.REGION:
            unit = ((uy & 0xFFFFFF).astype(np.uint64) << np.uint64(24)) | \
                (ux & 0xFFFFFF).astype(np.uint64)
        if random_units:
            h24 = rng.hash3(p["key"][:, None, None], records.STREAM_UNIT, unit) >> np.uint64(40)
            drop &= (thr >= UNIT_ONE) | (h24 < thr)
        rev = p["reverse"] != 0  # whole samples at a time: cheaper than broadcasting
        if rev.any():
            drop[rev] = ~drop[rev]
        drop[p["apply"] == 0] = False
        return drop, unit


OPERATORS = (Operator("grid_mask", GridMask, "GridMask (Chen et al. 2020)",
                      aliases=("gridmask",)),)
