"""Saliency producers: per-sample maps from the model being trained, ready for
:meth:`SaliencyBank.update` (``(B, h, w)`` float32, on the model's device).

* :func:`vanilla`: KeepAugment's map (Gong et al. 2021, Sec. 3.1, after Simonyan et al.
  2014): ``|d l_y / d x|`` with ``l_y`` the logit of the true label, maximum over channels.
* :func:`lowres`: the same on a copy downsampled by ``factor`` (KeepAugment Sec. 3.2,
  "low resolution based approximation"); the map is at the low resolution, which the bank
  resamples by area like any other.
* :class:`FreeSaliency`: the input gradient of the training loss, read from the backward
  pass the trainer does anyway (``x.requires_grad_()`` before the forward), so there is no
  extra forward or backward; it costs the first layer's input gradient.
* :func:`gradcam`: Grad-CAM (Selvaraju et al. 2017) on a named layer, the map CAM-based
  Random Erasing (Oh & Lee 2023) places its regions with.

Readings chosen:

* :func:`vanilla`, :func:`lowres` and :func:`gradcam` run the model in eval mode (batch
  norm statistics are neither used from the batch nor updated by the extra pass) and take
  gradients with respect to the input only (nothing accumulates in the parameters).
* Every map is divided by its mean (an all-zero map stays zero): gradient magnitudes drift
  over training and with AMP's loss scale, and the bank blends maps from different steps.
  Region choice does not depend on the scale of a map.
* With mixed labels (CutMix, MixUp) the true label is the sample's own (``labels_a``).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from dali_regaug import validate

PRODUCERS = ("free", "vanilla", "lowres", "gradcam")


def vanilla(model, x, labels, *, grid=32):
    """KeepAugment's vanilla-gradient saliency of ``x`` ``(B, C, H, W)``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(B, classes)``.
    x : Tensor
        The views, as the model takes them.
    labels : Tensor or (labels_a, labels_b, lam)
        The true labels (with mixing, the sample's own).
    grid : int or None
        Average-pool the maps to ``grid x grid`` (less to copy to the bank); ``None``
        keeps the input resolution.
    """
    return _input_gradient(model, x, labels, grid)


def lowres(model, x, labels, *, factor=2, grid=32):
    """:func:`vanilla` on ``x`` downsampled by ``factor`` (antialiased bilinear)."""
    factor = validate.number("factor", factor, 1, 16, integer=True)
    small = F.interpolate(x.detach(), scale_factor=1 / factor, mode="bilinear",
                          antialias=True, align_corners=False)
    return _input_gradient(model, small, labels, grid)


def gradcam(model, x, labels, *, layer="layer4"):
    """Grad-CAM of the true label at ``layer`` (a name from ``model.named_modules()``):
    ``relu(sum_k a_k A_k)`` with ``a_k`` the spatial mean of ``d l_y / d A_k``; at the
    layer's resolution."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"layer={layer!r} is not a module of the model; expected one of "
                         f"{', '.join(n for n in modules if n)[:300]}")
    seen = []
    hook = modules[layer].register_forward_hook(lambda m, i, out: seen.append(out))
    try:
        with _evaluating(model), torch.enable_grad():
            logits = model(x.detach().requires_grad_())  # a graph, the parameters frozen
            act = seen[-1]
            grad, = torch.autograd.grad(_true_logits(logits, labels).sum(), act)
    finally:
        hook.remove()
    weights = grad.float().mean((2, 3), keepdim=True)
    cam = F.relu((weights * act.detach().float()).sum(1))
    return _normalized(cam)


class FreeSaliency:
    """The input gradient of the training loss, from the training step's own backward.

    Call :meth:`watch` on the batch before the forward and :meth:`maps` after the
    backward::

        x = free.watch(x)
        loss = criterion(model(x), y)
        loss.backward()
        bank.update(ids, free.maps(x), crops, flips)
    """

    def __init__(self, *, grid=32):
        self.grid = grid

    @staticmethod
    def watch(x):
        """``x`` as a leaf that records its gradient."""
        return x.detach().requires_grad_()

    def maps(self, x):
        """Maps from ``x.grad`` (after the backward)."""
        if x.grad is None:
            raise RuntimeError("x has no gradient: call watch(x) before the forward and "
                               "maps(x) after the backward")
        return _pooled(x.grad.detach().abs().amax(1), self.grid)


def _input_gradient(model, x, labels, grid):
    x = x.detach().requires_grad_()
    with _evaluating(model), torch.enable_grad():
        grad, = torch.autograd.grad(_true_logits(model(x), labels).sum(), x)
    return _pooled(grad.abs().amax(1), grid)


def _true_logits(logits, labels):
    y = labels[0] if isinstance(labels, (tuple, list)) else labels
    return logits.gather(1, y.to(logits.device).reshape(-1, 1).long())


def _pooled(maps, grid):
    maps = maps.float()
    if grid is not None and maps.shape[-1] > grid:
        maps = F.adaptive_avg_pool2d(maps[:, None], grid)[:, 0]
    return _normalized(maps)


def _normalized(maps):
    mean = maps.mean((1, 2), keepdim=True)
    return maps / torch.where(mean > 0, mean, torch.ones_like(mean))


@contextlib.contextmanager
def _evaluating(model):
    """The model in eval mode, its parameters not recording gradients, for one pass."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        model.train(was_training)
        for p, flag in flags:
            p.requires_grad_(flag)
