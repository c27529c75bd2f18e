"""Instance masks as COCO polygons, in the format of DALI's
``readers.coco(polygon_masks=True)``: ``polygons`` ``(P, 3)`` int32 rows
``[mask id, first vertex, end vertex)`` into ``vertices`` ``(V, 2)`` float32 ``(x, y)``
fractions of the image; mask id ``j`` is the instance of box ``j``, and an instance may have
several polygons.

Selecting instances is DALI's ``segmentation.select_masks``; this module clips polygons to a
rectangle (Sutherland and Hodgman, "Reentrant polygon clipping", CACM 1974), which CutMix's
detection mode needs for the partner's instances (:mod:`dali_regaug.ops.cutmix_detection`)
and the pipeline for instances that leave the crop, and pads them for the iterator. Each
step works on all polygons of a batch at once.
"""

from __future__ import annotations

import numpy as np

UNIT = (0.0, 0.0, 1.0, 1.0)


def clip(polygons, vertices, rects):
    """Each polygon clipped to its rectangle; polygons left with under 3 vertices are dropped.

    Parameters
    ----------
    polygons : (P, 3) int ndarray
    vertices : (V, 2) float ndarray
    rects : (P, 4) float ndarray
        ``(x0, y0, x1, y1)`` per polygon.

    Returns
    -------
    polygons : (P2, 3) int32 ndarray
        The kept polygons in order, with their mask ids.
    vertices : (V2, 2) float32 ndarray
    kept : (P,) bool ndarray
        Which input polygons are in the output.
    """
    polygons = np.asarray(polygons, np.int64).reshape(-1, 3)
    owner, first, _ = edges(polygons)
    pts = np.asarray(vertices, np.float64).reshape(-1, 2)[first]
    rects = np.asarray(rects, np.float64).reshape(-1, 4)
    for axis, edge, lower in ((0, 0, True), (1, 1, True), (0, 2, False), (1, 3, False)):
        pts, owner = _half_plane(pts, owner, len(polygons), axis, rects[owner, edge], lower)
    sizes = np.bincount(owner, minlength=len(polygons))
    kept = sizes >= 3
    pts = pts[kept[owner]]
    end = np.cumsum(sizes[kept])
    out = np.stack([polygons[kept, 0], end - sizes[kept], end], 1).astype(np.int32)
    return out, pts.astype(np.float32), kept


def edges(polygons):
    """Every polygon edge, in order: the polygon it belongs to and the indices of its first
    and second vertex (the last edge of a polygon closes it).

    Parameters
    ----------
    polygons : (P, 3) int array
        ``[mask id, first vertex, end vertex)`` rows.

    Returns
    -------
    owner, first, second : (E,) int64 ndarrays
    """
    polygons = np.asarray(polygons, np.int64).reshape(-1, 3)
    sizes = polygons[:, 2] - polygons[:, 1]
    owner = np.repeat(np.arange(len(polygons)), sizes)
    first = np.arange(int(sizes.sum())) + np.repeat(
        polygons[:, 1] - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    last = np.r_[owner[1:] != owner[:-1], True][:len(owner)]
    return owner, first, np.where(last, np.repeat(polygons[:, 1], sizes), first + 1)


def clip_batch(polygons, vertices, rects):
    """:func:`clip` for per-sample lists of polygons, vertices and one rectangle each."""
    flat, verts, sample = _concat(polygons, vertices)
    flat, verts, kept = clip(flat, verts, np.asarray(rects, np.float64).reshape(-1, 4)[sample])
    return _split(flat, verts, sample[kept], len(polygons))


def paste_batch(polygons, vertices, kept_boxes, partner_polygons, partner_vertices, regions):
    """CutMix detection: each sample's instances, then its partner's clipped to the region
    (``(x0, y0, x1, y1)`` fractions) with mask ids after the ``len(kept_boxes)`` own ones."""
    polys, verts = clip_batch(partner_polygons, partner_vertices, regions)
    out_p, out_v = [], []
    for p, v, k, q, w in zip(polygons, vertices, kept_boxes, polys, verts):  # packing only
        q = q + np.array([len(k), len(v), len(v)], np.int32)
        out_p.append(np.concatenate([np.asarray(p, np.int32).reshape(-1, 3), q]))
        out_v.append(np.concatenate([np.asarray(v, np.float32).reshape(-1, 2), w]))
    return out_p, out_v


def pad_batch(polygons, vertices, count, max_polygons, max_vertices):
    """Instances of the first ``count`` boxes, clipped to the image and padded to
    ``(max_polygons, 3)`` (rows of -1 after the last polygon) and ``(max_vertices, 2)``.

    Raises ``ValueError`` naming the argument to raise when an image has more."""
    count = [int(np.asarray(c).reshape(-1)[0]) for c in count]
    polygons = [np.asarray(p).reshape(-1, 3) for p in polygons]
    polygons = [p[p[:, 0] < c] for p, c in zip(polygons, count)]
    polygons, vertices = clip_batch(polygons, vertices, [UNIT] * len(polygons))
    out_p = np.full((len(polygons), max_polygons, 3), -1, np.int32)
    out_v = np.zeros((len(polygons), max_vertices, 2), np.float32)
    for i, (p, v) in enumerate(zip(polygons, vertices)):  # packing only
        for arg, n, limit in (("max_polygons", len(p), max_polygons),
                              ("max_vertices", len(v), max_vertices)):
            if n > limit:
                raise ValueError(f"{arg}={limit}: an image has {n} after cropping; raise "
                                 f"{arg} in detection_pipeline")
        out_p[i, :len(p)], out_v[i, :len(v)] = p, v
    return list(out_p), list(out_v)


def _half_plane(pts, owner, n, axis, bound, lower):
    """One Sutherland-Hodgman pass: each edge ``(v_i, v_next)`` of each polygon emits the
    crossing point when it crosses the bound, then ``v_next`` when that is inside."""
    end = np.cumsum(np.bincount(owner, minlength=n))
    _, _, nxt = edges(np.stack([np.arange(n), end - np.diff(end, prepend=0), end], 1))
    c, d = pts, pts[nxt]
    inside = (pts[:, axis] >= bound) if lower else (pts[:, axis] <= bound)
    crossing = inside != inside[nxt]
    denom = np.where(crossing, d[:, axis] - c[:, axis], 1.0)
    t = np.clip((bound - c[:, axis]) / denom, 0.0, 1.0)[:, None]
    cut = c + t * (d - c)
    cut[:, axis] = np.where(crossing, bound, cut[:, axis])
    emit = np.stack([crossing, inside[nxt]], 1)
    out = np.stack([cut, d], 1)[emit]
    return out, np.repeat(owner, emit.sum(1))


def _concat(polygons, vertices):
    """One polygon array for a batch (vertex ranges shifted), the vertices, and each
    polygon's sample."""
    polygons = [np.asarray(p, np.int64).reshape(-1, 3) for p in polygons]
    vertices = [np.asarray(v, np.float64).reshape(-1, 2) for v in vertices]
    shift = np.concatenate([[0], np.cumsum([len(v) for v in vertices])[:-1]]).astype(np.int64)
    sample = np.repeat(np.arange(len(polygons)), [len(p) for p in polygons])
    flat = np.concatenate(polygons + [np.zeros((0, 3), np.int64)])
    flat[:, 1:] += shift[sample][:, None]
    return flat, np.concatenate(vertices + [np.zeros((0, 2))]), sample


def _split(polygons, vertices, sample, n):
    """Per-sample polygons (vertex ranges from 0) and vertices from a clipped batch."""
    cuts = np.searchsorted(sample, np.arange(1, n))
    out_p, out_v = [], []
    for p in np.split(polygons, cuts):  # packing only
        first = p[0, 1] if len(p) else 0
        out_v.append(vertices[first:p[-1, 2] if len(p) else 0])
        out_p.append(p - np.array([0, first, first], np.int32))
    return out_p, out_v
