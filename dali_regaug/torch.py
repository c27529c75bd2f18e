"""PyTorch side: :class:`Loader` (DALI pipelines as a training loader), and the loss and
soft targets for the ``(labels_a, labels_b, lam)`` triple that :func:`dali_regaug.fn.mix`
and friends return."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dali_regaug import validate
from dali_regaug.loader import Loader, Targets

__all__ = ["Loader", "Targets", "instance_masks", "mixed_cross_entropy", "soft_targets", "unpad"]


def soft_targets(y_a, y_b, lam, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """``lam * t(y_a) + (1 - lam) * t(y_b)``, where ``t`` is the label-smoothed one-hot
    (``1 - smoothing + smoothing / num_classes`` on the label, ``smoothing / num_classes``
    elsewhere), as timm's ``mixup_target``.

    Parameters
    ----------
    y_a, y_b : Tensor
        Integer labels, shape ``(N,)`` or ``(N, 1)``.
    lam : Tensor
        Weight of ``y_a`` per sample, shape ``(N,)`` or ``(N, 1)``.
    num_classes : int
    smoothing : float
        In ``[0, 1)``.
    """
    validate.number("num_classes", num_classes, 1, None, integer=True)
    validate.number("smoothing", smoothing, 0.0, 1.0)
    _same_batch(len(_column(lam)), y_a=y_a, y_b=y_b)
    off = smoothing / num_classes
    lam = _column(lam).float()

    def one_hot(y):
        t = torch.full((len(lam), num_classes), off, device=lam.device)
        return t.scatter_(1, _column(y).long().to(lam.device), 1.0 - smoothing + off)

    return lam * one_hot(y_a) + (1 - lam) * one_hot(y_b)


def mixed_cross_entropy(logits, y_a, y_b, lam, label_smoothing: float = 0.0) -> torch.Tensor:
    """Batch mean of ``lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)`` (the CutMix and
    MixUp papers' loss), with optional label smoothing.

    Parameters
    ----------
    logits : Tensor
        ``(N, num_classes)``.
    y_a, y_b : Tensor
        Integer labels, shape ``(N,)`` or ``(N, 1)``.
    lam : Tensor
        Weight of ``y_a`` per sample, shape ``(N,)`` or ``(N, 1)``.
    label_smoothing : float
    """
    _same_batch(len(logits), y_a=y_a, y_b=y_b, lam=lam)
    dev = logits.device
    lam = _column(lam).reshape(-1).to(dev, logits.dtype)
    same = y_b is y_a  # no mixing (the Targets of a spec without one): one CE is enough
    ce = [F.cross_entropy(logits, _column(y).reshape(-1).long().to(dev), reduction="none",
                          label_smoothing=label_smoothing) for y in (y_a, y_b)[:2 - same]]
    return ce[0].mean() if same else (lam * ce[0] + (1 - lam) * ce[1]).mean()


def unpad(boxes, labels, count) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-image ``(boxes, labels)`` from a detection batch padded to ``max_boxes``
    (:func:`dali_regaug.pipelines.detection_pipeline`): views of the first ``count[i]``
    rows of each image.

    Parameters
    ----------
    boxes : (N, max_boxes, 4) tensor
    labels : (N, max_boxes) tensor
    count : (N,) or (N, 1) tensor
    """
    n = count.reshape(-1).tolist()
    for name, t in (("boxes", boxes), ("labels", labels)):
        if len(t) != len(n):
            raise ValueError(f"{name} has {len(t)} images for {len(n)} counts")
    return [(boxes[i, :k], labels[i, :k]) for i, k in enumerate(n)]


def instance_masks(polygons, vertices, count, size) -> list[torch.Tensor]:
    """Per image, the ``(count[i], H, W)`` bool masks of its instances (torchvision's
    ``targets["masks"]``) from the padded polygons of
    :func:`dali_regaug.pipelines.detection_pipeline` with ``masks="polygon"``.

    The masks are pycocotools' (``decode(merge(frPyObjects(polygons, H, W)))``, COCO's own
    rasterization), bit for bit for the pixel coordinates ``x * W``, ``y * H`` computed in
    float64 from ``vertices``; see :func:`_raster` for the rule.

    Parameters
    ----------
    polygons : (N, max_polygons, 3) int tensor
        ``[instance, first vertex, end vertex)`` rows, -1 rows after the last.
    vertices : (N, max_vertices, 2) float tensor
        ``(x, y)`` fractions of the image.
    count : (N,) or (N, 1) tensor
    size : int or (int, int)
        ``H`` and ``W`` of the masks.
    """
    h, w = (size, size) if isinstance(size, int) else size
    n = count.reshape(-1).tolist()
    if not len(polygons) == len(vertices) == len(n):
        raise ValueError(f"polygons, vertices and count have {len(polygons)}, "
                         f"{len(vertices)} and {len(n)} images")
    return [_raster(p[p[:, 0] >= 0].long(), v, k, h, w)
            for p, v, k in zip(polygons, vertices, n)]


def _raster(polygons, vertices, count, h, w):
    """``(count, h, w)`` bool masks equal, bit for bit, to pycocotools'
    ``decode(merge(frPyObjects(instance_polygons, h, w)))``.

    ``polygons`` is ``(P, 3)`` int rows ``[instance, first vertex, end vertex)``; ``vertices``
    ``(V, 2)`` ``(x, y)`` fractions of the image (pixel coordinates are ``x * w``, ``y * h``
    in float64). An instance is the union of its polygons.

    The rule (pycocotools' ``rleFrPoly``), all integer steps as C does them:

    1. Scale each pixel coordinate by 5 and round as ``(int)(5 * c + .5)`` (truncation
       toward zero, so negative values round up).
    2. Walk every edge, the closing one too, from its first vertex to its second along its
       major axis (x when ``|dx| >= |dy|``), one integer step at a time, both ends included.
       The minor coordinate is ``(int)(a + s * t + .5)`` with ``a`` and ``s`` those of the
       edge taken from the vertex with the smaller major coordinate and ``t`` the distance
       from that vertex.
    3. Between consecutive points of a polygon where x changes by one, take the smaller x
       (``x - 1`` when it rises); it is a pixel centre ``c`` when that equals ``5 c + 2``,
       ``0 <= c < w``. There the crossing row is ``r = ceil((min(y) + .5) / 5 - .5)``,
       clamped into ``[0, h]``.
    4. Each crossing toggles the mask at column-major index ``c * h + r`` and onwards: a
       pixel of the polygon is on when an odd number of its polygon's crossings lie at or
       before its index (``r = h`` thus toggles the top of column ``c + 1``).

    Note: step 1 rounds ties (``5 c`` exactly ``k + .5``, e.g. ``c = 12.3``) by the last bit
    of the double ``c``, so the masks are exact for the pixel coordinates computed here; a
    fraction that went through float32 (or ``x / w * w``) may round such a tie differently
    from the original coordinate.
    """
    dev, i64, f64 = vertices.device, torch.int64, torch.float64
    polygons = polygons.to(dev, i64)
    ar = lambda n: torch.arange(n, device=dev)  # noqa: E731
    rep = torch.repeat_interleave

    # edges: vertex k of a polygon to vertex k + 1, the last one back to the first
    inst, first, end = polygons.T
    n = (end - first).clamp(min=0)
    pe = rep(ar(len(polygons)), n)  # polygon of each edge
    k = ar(len(pe)) - (n.cumsum(0) - n)[pe]
    a, b = first[pe] + k, first[pe] + (k + 1) % n[pe]
    xy = vertices.to(f64) * torch.tensor([w, h], device=dev, dtype=f64)
    X, Y = (torch.trunc(xy * 5 + .5).to(i64)).T
    xs, ys, xe, ye = X[a], Y[a], X[b], Y[b]

    # the edge's points, walked along its major axis from its first vertex
    dx, dy = (xe - xs).abs(), (ye - ys).abs()
    major_x = dx >= dy
    flip = torch.where(major_x, xs > xe, ys > ye)  # walk from the end with smaller major
    xs, xe = torch.where(flip, xe, xs), torch.where(flip, xs, xe)
    ys, ye = torch.where(flip, ye, ys), torch.where(flip, ys, ye)
    steps = torch.where(major_x, dx, dy)
    s = torch.where(major_x, ye - ys, xe - xs).to(f64) / steps.clamp(min=1).to(f64)
    pts = steps + 1
    pe_t = rep(ar(len(pe)), pts)  # edge of each point
    d = ar(len(pe_t)) - (pts.cumsum(0) - pts)[pe_t]
    t = torch.where(flip[pe_t], steps[pe_t] - d, d)
    mx = major_x[pe_t]
    minor = torch.trunc(torch.where(major_x, ys, xs)[pe_t].to(f64) + s[pe_t] * t.to(f64) + .5)
    major = torch.where(major_x, xs, ys)[pe_t] + t
    u = torch.where(mx, major, minor.to(i64))
    v = torch.where(mx, minor.to(i64), major)
    poly = pe[pe_t]

    # crossings of pixel-centre columns between consecutive points of one polygon
    u0, u1, v0, v1 = u[:-1], u[1:], v[:-1], v[1:]
    xd = (torch.minimum(u0, u1).to(f64) + .5) / 5 - .5
    keep = (poly[:-1] == poly[1:]) & (u0 != u1) & (xd == xd.floor()) & (xd >= 0) & (xd <= w - 1)
    yd = ((torch.minimum(v0, v1)[keep].to(f64) + .5) / 5 - .5).clamp(0, h).ceil()
    pos = xd[keep].to(i64) * h + yd.to(i64)  # column-major index in [0, h * w]
    poly = poly[1:][keep]

    # sorted, a polygon's crossings pair up into on-spans [lo, hi) of one column: each
    # column is crossed an even number of times, as the walk ends where it starts
    order = torch.sort(poly * (h * w + 1) + pos).indices
    lo, hi = pos[order].view(-1, 2).T
    which = inst[poly[order][0::2]]
    lo, hi, which = lo[hi > lo], hi[hi > lo], which[hi > lo]
    col = lo // h
    cells, cell = torch.unique(which * w + col, return_inverse=True)  # (instance, column)
    diff = torch.zeros(len(cells), h + 1, device=dev, dtype=torch.int32)
    one = torch.ones_like(cell, dtype=torch.int32)
    diff.index_put_((cell, lo - col * h), one, accumulate=True)
    diff.index_put_((cell, hi - col * h), -one, accumulate=True)
    masks = torch.zeros(count, h, w, device=dev, dtype=torch.bool)
    masks[cells // w, :, cells % w] = diff.cumsum(1, dtype=torch.int32)[:, :h] > 0
    return masks


def _column(x) -> torch.Tensor:
    return torch.as_tensor(x).reshape(-1, 1)


def _same_batch(n, **tensors):
    for name, t in tensors.items():
        if len(_column(t)) != n:
            raise ValueError(f"{name} has {len(_column(t))} entries for a batch of {n} "
                             f"(mixed-up batches of different sizes?)")
