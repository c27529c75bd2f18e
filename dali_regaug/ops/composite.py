"""Two-source composite ``out = M * a + (1 - M) * b`` (``kernels/composite.cu``).

``M`` is ``w_in`` inside a sample's boxes and ``w_out`` outside. CutMix (Yun et al. 2019)
pastes a box of the partner (``w_in = 1, w_out = 0``), MixUp blends (no box,
``w_out = lam``), and KeepAugment (Gong et al. 2021) pastes a salient box back. Where
``M`` is 0 or 1 the pixel is copied exactly; otherwise the blend is computed in float32 and
stored as the kernels store it.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import fill as fill_mod
from dali_regaug import launch, validate
from dali_regaug.ops import rects
from dali_regaug.ops.base import Op, group_buffers, scalars, shape_groups


def params(boxes, counts, w_in, w_out, keys=None) -> np.ndarray:
    """Records from ``(B, K, 4)`` boxes, ``(B,)`` counts and ``(B,)`` weights."""
    boxes = np.asarray(boxes, np.int32)
    p = np.zeros(len(boxes), rects.params_dtype(boxes.shape[1]))
    p["key"] = 0 if keys is None else keys
    p["count"], p["w_in"], p["w_out"], p["boxes"] = counts, w_in, w_out, boxes
    return p


def lam(p, hw) -> np.ndarray:
    """Mean of ``M`` over each image: the weight of ``a`` (CutMix's and MixUp's lambda).

    Parameters
    ----------
    p : structured ndarray
        Records with at most one box in use each (as the mixing samplers draw them).
    hw : (N, 2) array
        Height and width of each image.
    """
    if (p["count"] > 1).any():
        raise ValueError("lam() needs records with at most one box each")
    hw = np.asarray(hw, np.float64).reshape(-1, 2)
    b = p["boxes"][:, 0].astype(np.float64)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    frac = np.where(p["count"] > 0, area / (hw[:, 0] * hw[:, 1]), 0.0)
    return (p["w_in"] * frac + p["w_out"] * (1 - frac)).astype(np.float32)


def apply(a, b, p, *, layout="HWC", backend=None, workspace=None, **launch_options):
    """Composite of batches ``a`` and ``b`` (same shapes) under records ``p``.

    Parameters
    ----------
    a, b : list of arrays or array
        Sources of the same shapes and dtype; CuPy arrays take the kernel.
    p : structured ndarray
        Records from :func:`params`.
    layout : {"HWC", "CHW"}
    backend : {None, "numpy", "emulator"} or a launch backend
    workspace : callable, optional
        NumPy path: ``workspace(nbytes)`` returns a reused uint8 buffer for the output
        and the gathered ``b`` (the DALI bodies' buffer); by default both are allocated.
    **launch_options
        ``block``, ``max_grid_x``, ``index`` for :func:`dali_regaug.launch.launch`.
    """
    layout = validate.layout(layout)
    arrays_a, h, w, _, _ = launch.describe(a, layout, "a")
    arrays_b = launch.describe(b, layout, "b")[0]
    if [x.shape for x in arrays_a] != [x.shape for x in arrays_b] or \
            [x.dtype for x in arrays_a] != [x.dtype for x in arrays_b]:
        raise ValueError("a and b must hold samples of the same shapes and dtype")
    be = launch.backend_for(a, backend)
    if be is not None:
        return launch.launch("composite", a, p, layout=layout, backend=be, images2=arrays_b,
                             **launch_options)
    groups = shape_groups(arrays_a)
    targets, gathered = group_buffers(groups, workspace, count=2)
    outs = [None] * len(arrays_a)
    for (idx, x), target, scratch in zip(groups, targets, gathered):
        y = np.stack([arrays_b[i] for i in idx], out=scratch)
        res = _blend(x, y, p[idx], int(h[idx[0]]), int(w[idx[0]]), layout, target)
        for j, i in enumerate(idx):
            outs[i] = res[j]
    return outs if isinstance(a, (list, tuple)) else (np.stack(outs) if outs else a)


def _blend(x, y, p, h, w, layout, out=None):
    """``x`` where ``M`` is 1, ``y`` where it is 0 (exact copies), the stored float32
    blend elsewhere, computed only for the samples with a weight strictly inside (0, 1)."""
    inside = rects.last_box(p, h, w) >= 0
    w_in, w_out = p["w_in"][:, None, None], p["w_out"][:, None, None]
    per_pixel = (lambda a: a[..., None]) if layout == "HWC" else (lambda a: a[:, None])
    if out is None:
        out = np.empty_like(x)
    np.copyto(out, x)
    np.copyto(out, y, where=per_pixel(np.where(inside, w_in == 0, w_out == 0)))
    rows = np.flatnonzero(((w_in > 0) & (w_in < 1) | (w_out > 0) & (w_out < 1)).reshape(-1))
    if rows.size:
        f32, m = np.float32, np.where(inside[rows], w_in[rows], w_out[rows])
        mixed = fill_mod.store(per_pixel(m) * x[rows].astype(f32) +
                               per_pixel(f32(1) - m) * y[rows].astype(f32), x.dtype)
        sub = out[rows]
        np.copyto(sub, mixed, where=per_pixel((m > 0) & (m < 1)))
        out[rows] = sub
    return out


class TwoSource(Op):
    """An operator whose records composite each image with a second source (a partner from
    the batch, or another version of the image); subclasses define ``sample``."""

    kernel = "composite"
    params_dtype = rects.params_dtype(1)

    def apply(self, images, partners, params, *, backend=None, **launch_options):
        """Composite ``images`` (``a``) with ``partners`` (``b``, same shapes) under
        ``params``: see :func:`apply`.

        Parameters
        ----------
        images, partners : list of arrays or array
        params : structured ndarray or list of arrays
            Records from :meth:`draw`, or per-sample device bytes.
        backend : {None, "numpy", "emulator"} or a launch backend
        """
        return apply(images, partners, params, layout=self.layout,
                     backend=backend if backend is not None else self.backend,
                     **launch_options)

    def apply_batch(self, images, partners, params):
        """Op on the images' device: images, their second sources and parameter bytes (or
        records) in, images out. Partners may be indices into the batch (CPU: views, not a
        permuted copy) or a batch."""
        if not images:
            return []
        if np.ndim(partners[0]) < 2:
            partners = [images[i] for i in scalars(partners)]
        if launch.backend_for(images, self.backend) is None:  # NumPy path: records
            params = self._as_records(params)
        return list(apply(images, partners, params, layout=self.layout, backend=self.backend,
                          workspace=self._workspace))
