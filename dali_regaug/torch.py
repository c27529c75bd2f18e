"""PyTorch side: :class:`Loader` (DALI pipelines as a training loader), and the loss and
soft targets for the ``(labels_a, labels_b, lam)`` triple that :func:`dali_regaug.fn.mix`
and friends return."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dali_regaug import validate
from dali_regaug.loader import Loader

__all__ = ["Loader", "mixed_cross_entropy", "soft_targets", "unpad"]


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


def _column(x) -> torch.Tensor:
    return torch.as_tensor(x).reshape(-1, 1)


def _same_batch(n, **tensors):
    for name, t in tensors.items():
        if len(_column(t)) != n:
            raise ValueError(f"{name} has {len(_column(t))} entries for a batch of {n} "
                             f"(mixed-up batches of different sizes?)")
