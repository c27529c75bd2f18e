"""PyTorch side: :class:`Loader` (DALI pipelines as a training loader), and the loss and
soft targets for the ``(labels_a, labels_b, lam)`` triple that :func:`dali_regaug.fn.mix`
and friends return."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dali_regaug import validate
from dali_regaug.loader import Loader
from dali_regaug.ops.polygons import edges

__all__ = ["Loader", "instance_masks", "mixed_cross_entropy", "soft_targets", "unpad"]


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
    ce = [F.cross_entropy(logits, _column(y).reshape(-1).long().to(dev), reduction="none",
                          label_smoothing=label_smoothing) for y in (y_a, y_b)]
    return (lam * ce[0] + (1 - lam) * ce[1]).mean()


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

    A pixel belongs to an instance when its centre is inside one of the instance's polygons
    (even-odd rule), as COCO's rasterization of polygons.

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
    return [_raster(p[p[:, 0] >= 0].long(), v.float(), k, h, w)
            for p, v, k in zip(polygons, vertices, n)]


def _raster(polygons, vertices, count, h, w):
    """Even-odd fill at pixel centres: each polygon edge crossing a row's centre line flips
    the pixels left of the crossing (a difference array along the row)."""
    dev = vertices.device
    edge, idx, nxt = (torch.from_numpy(a).to(dev) for a in edges(polygons.cpu().numpy()))
    scale = torch.tensor([[w], [h]], device=dev, dtype=vertices.dtype)
    (x0, y0), (x1, y1) = vertices[idx].T * scale, vertices[nxt].T * scale
    rows = torch.arange(h, device=dev, dtype=vertices.dtype)[:, None] + 0.5  # (H, 1)
    crosses = (y0 > rows) != (y1 > rows)  # (H, E)
    x = x0 + (rows - y0) * (x1 - x0) / torch.where(crosses, y1 - y0, torch.ones_like(y0))
    cols = torch.clamp(torch.ceil(x - 0.5), 0, w).long()  # pixels left of the crossing
    diff = torch.zeros(len(polygons), h, w + 1, device=dev)
    r, e = torch.nonzero(crosses, as_tuple=True)
    diff.index_put_((edge[e], r, torch.zeros_like(r)), torch.ones(len(r), device=dev),
                    accumulate=True)
    diff.index_put_((edge[e], r, cols[r, e]), -torch.ones(len(r), device=dev),
                    accumulate=True)
    inside = (torch.cumsum(diff, -1)[..., :w] % 2 == 1).float()
    masks = torch.zeros(count, h, w, device=dev).index_add_(0, polygons[:, 0], inside)
    return masks > 0


def _column(x) -> torch.Tensor:
    return torch.as_tensor(x).reshape(-1, 1)


def _same_batch(n, **tensors):
    for name, t in tensors.items():
        if len(_column(t)) != n:
            raise ValueError(f"{name} has {len(_column(t))} entries for a batch of {n} "
                             f"(mixed-up batches of different sizes?)")
