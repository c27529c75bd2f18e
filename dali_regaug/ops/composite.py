"""Two-source composite ``out = M * a + (1 - M) * b`` (``kernels/composite.cu``).

``M`` is ``w_in`` inside a sample's boxes and ``w_out`` outside. CutMix (Yun et al. 2019)
pastes a box of the partner (``w_in = 1, w_out = 0``), MixUp blends (no box,
``w_out = lam``), and KeepAugment (Gong et al. 2021) pastes a salient box back. Where
``M`` is 0 or 1 the pixel is copied exactly; otherwise the blend is computed in float32 and
stored as the kernels store it.
"""

from __future__ import annotations

import numpy as np

from dali_regaug import batch as batch_mod
from dali_regaug import fill as fill_mod
from dali_regaug import launch, validate
from dali_regaug.ops import rects
from dali_regaug.ops.base import Op

CACHE_BYTES = 1 << 20  # one stretch of pixels across the batch, per source, in the NumPy reference


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


def apply(a, b, p, *, layout="HWC", out=None, backend=None, workspace=None,
          **launch_options):
    """Composite of batches ``a`` and ``b`` (same shapes) under records ``p``.

    Parameters
    ----------
    a, b : list of arrays or array
        Sources of the same shapes and dtype: host arrays take the CPU kernel, CuPy arrays
        the CUDA kernel. ``b`` may be ``a``'s samples in another order (partners): they are
        read in place, not gathered.
    p : structured ndarray
        Records from :func:`params`.
    layout : {"HWC", "CHW"}
    out : array, optional
        One array to write the result into, shaped as the stacked batch (it may be ``a``
        itself, never ``b``).
    backend : {None, "numpy", "emulator"} or a launch backend
        ``"numpy"``: the NumPy reference (tests); ``"emulator"``: the CUDA kernel on the
        CPU emulator.
    workspace : callable, optional
        ``workspace(nbytes, backend)`` returns a reused uint8 buffer on the images' device
        to write the output into when ``out`` is not given (the DALI bodies' buffer).
    **launch_options
        ``block``, ``max_grid_x``, ``index`` for :func:`dali_regaug.launch.launch`.
    """
    layout = validate.layout(layout)
    a, back = batch_mod.from_torch(a)
    b, out = batch_mod.from_torch(b)[0], batch_mod.from_torch(out, written=True)[0]
    be = launch.backend_for(a, backend)
    ba, bb = batch_mod.describe(a, layout, "a"), batch_mod.describe(b, layout, "b")
    arrays_b = bb.arrays
    if batch_mod.shapes(ba.arrays) != batch_mod.shapes(arrays_b) or ba.dtype != bb.dtype:
        raise ValueError("a and b must hold samples of the same shapes and dtype")
    if out is not None and batch_mod.overlaps(out, arrays_b):
        raise ValueError("out overlaps b: each output pixel would overwrite a partner's "
                         "pixel another sample still reads; pass a separate buffer")
    if be is not None:
        return back(launch.launch("composite", ba, p, layout=layout, backend=be,
                                  images2=arrays_b, out=out,
                                  workspace=launch.workspace_on(workspace, be), **launch_options))
    if not len(ba.arrays):
        return back(a)
    groups = batch_mod.shape_groups(ba.arrays)
    targets = [batch_mod.check_out(out, ba.arrays)] if out is not None else \
        batch_mod.group_buffers(groups, workspace)[0]
    results = []
    for (idx, x), target in zip(groups, targets):
        y, order = batch_mod.as_rows([arrays_b[i] for i in idx])
        results.append(_blend(x, y, order, p[idx], int(ba.h[idx[0]]), int(ba.w[idx[0]]),
                              layout, target))
    return back(batch_mod.ungroup(groups, results, ba.stacked))


def _blend(x, y, rows, p, h, w, layout, out=None):
    """``x`` where ``M`` is 1, ``y[rows]`` where it is 0 (exact copies), the stored float32
    blend elsewhere. Pixels are taken a cache-sized stretch at a time, across the batch, so
    that each source is read once and the output written once, with no per-sample loop."""
    if out is None:
        out = np.empty_like(x)
    g, c, f32 = len(x), x[0].size // (h * w), np.float32
    boxes = (p["count"] > 0).any()
    inside = rects.covered(p, h, w).reshape(g, h * w) if boxes else None
    w_in, w_out = p["w_in"][:, None], p["w_out"][:, None]
    if layout == "HWC":  # (G, pixels, C) views; a weight per pixel broadcasts over C
        x3, y3, o3 = (v.reshape(len(v), h * w, c) for v in (x, y, out))
        span, per_pixel = lambda v, s: v[:, s], lambda m: m[..., None]
    else:
        x3, y3, o3 = (v.reshape(len(v), c, h * w) for v in (x, y, out))
        span, per_pixel = lambda v, s: v[:, :, s], lambda m: m[:, None]
    step = max(1, CACHE_BYTES // max(1, g * c * x.itemsize))
    mixed = np.empty(span(x3, slice(0, step)).shape, f32)  # scratch for one stretch
    exact = np.flatnonzero((w_out == 0) | (w_out == 1))  # no box: rows copied, not blended
    as_f32 = x.dtype == f32
    for start in range(0, h * w, step):
        s = slice(start, start + step)
        xs, ys, os_ = span(x3, s), span(y3, s)[rows], span(o3, s)  # ys: a copy, scratch
        ms = span(mixed, slice(0, min(step, h * w - start)))
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0, as the kernels do
            if boxes:  # M per pixel: copies, then the blend where 0 < M < 1
                m = per_pixel(np.where(inside[:, s], w_in, w_out))
                np.copyto(os_, xs)
                np.copyto(os_, ys, where=m == 0)
                blend = (m > 0) & (m < 1)
                if blend.any():
                    np.multiply(xs, m, out=ms)
                    ms += np.multiply(ys, f32(1) - m, out=ys if as_f32 else None)
                    np.copyto(os_, fill_mod.store(ms, x.dtype), where=blend)
                continue
            # M per sample: blend every row (float32 straight into the output), then copy
            # the rows weighted 0 or 1 exactly, read before the blend may overwrite x.
            m = per_pixel(w_out)
            copies = np.where(m[exact] == 1, xs[exact], ys[exact])
            np.multiply(xs, m, out=os_ if as_f32 else ms)
            blended = np.multiply(ys, f32(1) - m, out=ys if as_f32 else None)
            if as_f32:
                os_ += blended
            else:
                ms += blended
                np.copyto(os_, fill_mod.store(ms, x.dtype))
            os_[exact] = copies
    return out


class TwoSource(Op):
    """An operator whose records composite each image with a second source (a partner from
    the batch, or another version of the image); subclasses define ``sample``."""

    kernel = "composite"
    params_dtype = rects.params_dtype(1)

    def explain(self, params, hw):
        weights = lam(params, hw) if (params["count"] <= 1).all() else \
            np.full(len(params), np.nan)
        out = []
        for r, weight in zip(params, weights):
            boxes = rects.explain(r) or "no pixel"
            if r["count"] and r["w_in"] == 0:
                out.append(f"cutmix: partner pasted in {boxes}, lam={weight:.4f}")
            elif r["count"] and r["w_in"] == 1:
                out.append(f"paste: own image kept in {boxes}")
            elif r["w_out"] < 1:
                out.append(f"mixup: lam={weight:.4f}")
            else:
                out.append("unchanged, lam=1")
        return out

    def hidden(self, params, h, w):
        """Pixels where the image itself has no weight (CutMix's pasted box; outside a
        selective paste)."""
        inside = rects.covered(params, h, w)
        weight = np.where(inside, params["w_in"][:, None, None], params["w_out"][:, None, None])
        return weight <= 0

    def apply(self, images, partners, params, *, out=None, backend=None, workspace=None,
              **launch_options):
        """Composite ``images`` (``a``) with ``partners`` (``b``, same shapes) under
        ``params``: see :func:`apply`.

        Parameters
        ----------
        images, partners : list of arrays or array
            NumPy, CuPy or torch (through DLPack).
        params : structured ndarray or list of arrays
            Records from :meth:`draw`, or per-sample record bytes.
        out : array, optional
            One stacked array to write into (a reused buffer; never ``partners``' memory).
        backend : {None, "numpy", "emulator"} or a launch backend
        """
        return apply(images, partners, self.records(params, len(images)), layout=self.layout,
                     out=out,
                     backend=backend if backend is not None else self.backend,
                     workspace=workspace, **launch_options)

    def apply_batch(self, images, params, partners=None):
        """The applying DALI body, on the images' device: images, records (or their bytes)
        and the second sources in. Partners may be indices into the batch (CPU: views, not a
        permuted copy) or a batch."""
        if not len(images):
            return []
        if np.ndim(partners[0]) < 2:
            partners = [images[i] for i in batch_mod.scalars(partners)]
        return list(self.apply(list(images), list(partners), params,
                               workspace=self._workspace))
