"""``dali-regaug train``: a torchvision ResNet trained from a DALI pipeline with region
augmentation; the reference for how the loader, the spec and the mixed loss fit together.

SGD with momentum and a per-step cosine schedule (learning rate scaled by batch / 256 as
in Goyal et al. 2017), label smoothing, AMP (float16 with loss scaling on GPU, bfloat16
on CPU) and channels-last (both on by default on GPU only), DDP under
``torchrun`` (NCCL on GPU, gloo on CPU), top-1/top-5 on the validation split every epoch,
a checkpoint every epoch (model, optimizer, schedule and the loader's exact state) and
``--resume``. A GridMask in the spec without ``ramp`` gets the paper's schedule: its
probability rises linearly to ``prob`` over the run.

With ``--saliency`` a :class:`~dali_regaug.saliency.SaliencyBank` joins the loop: the
producer's maps of each batch go into the bank, and the guided operators of the spec
(``keep_cutout``, ...) read them for the batches the pipeline prepares next. The bank is
saved in the checkpoint, and its fill ratio is shown in the progress bar.
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from dali_regaug import schedule, spec
from dali_regaug.config import Config  # noqa: F401  (the trainer's settings)
from dali_regaug.ops import catalog
from dali_regaug.saliency import producers, shared
from dali_regaug.torch import Loader, mixed_cross_entropy

LOG_EVERY = 20  # steps between reads of the running loss (each read waits for the device)


def ramped(augment, epochs: int) -> list:
    """The parsed spec, with GridMask's probability ramped over ``epochs`` unless the spec
    sets its own ``ramp``."""
    ops = spec.parse(augment)
    for name, kwargs in ops:
        if name == "grid_mask" and not isinstance(kwargs.get("prob"), schedule.Linear):
            default = catalog.get(name).arg("prob").default
            kwargs["prob"] = schedule.Linear(kwargs.get("prob", default), epochs=epochs)
    return ops


def fit(cfg: Config) -> list[dict]:
    """Train; returns one record per epoch (loss, top-1, top-5, images/s), also appended
    to ``<out>/metrics.jsonl``."""
    import torchvision

    from dali_regaug import sample_data
    from dali_regaug.pipelines import load_dataset, resolve_device

    dev = resolve_device(cfg.device)
    device, distributed = setup_distributed(dev)
    main = not distributed or torch.distributed.get_rank() == 0
    root = Path(cfg.data) if cfg.data else sample_data.make(progress=print if main else None)
    augment = ramped(cfg.augment, cfg.epochs) if cfg.ramp else spec.parse(cfg.augment)
    common = dict(size=cfg.size, device=dev, num_threads=cfg.workers,
                  skip_corrupt=cfg.skip_corrupt)
    dataset = load_dataset(root / "train", skip_corrupt=cfg.skip_corrupt)
    bank = _bank(cfg, augment, len(dataset), distributed)
    train = Loader.train_loader(dataset, batch_size=cfg.batch_size, augment=augment,
                                seed=cfg.seed, bank=bank, with_info=bank is not None,
                                **common)
    classes = train.dataset.classes
    val = Loader.val_loader(root / "val", batch_size=cfg.batch_size, classes=classes, **common)
    torch.manual_seed(cfg.seed)
    model = getattr(torchvision.models, cfg.arch)(num_classes=len(classes)).to(device)
    prec = Precision.choose(device, cfg.amp, cfg.channels_last)
    if prec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    world = torch.distributed.get_world_size() if distributed else 1
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr * cfg.batch_size * world / 256,
                          momentum=0.9, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * len(train)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    scaler = torch.amp.GradScaler(device.type, enabled=prec.scale_loss)
    producer = None if bank is None else SaliencyStep(cfg.saliency, model, bank,
                                                      cfg.gradcam_layer)
    out = Path(cfg.out)
    start = 0
    if cfg.resume:
        ck = load(cfg.resume, device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["schedule"])
        if ck["scaler"]:  # empty when the checkpoint's run did not scale its loss
            scaler.load_state_dict(ck["scaler"])
        train.load_state_dict(ck["loader"])
        if bank is not None and ck.get("saliency") and shared.local_rank() == 0:
            bank.load_state_dict(ck["saliency"])  # one bank for all ranks of a node
        if bank is not None and distributed:
            torch.distributed.barrier()
        start = train.epoch
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if not cfg.resume:
            (out / "metrics.jsonl").unlink(missing_ok=True)
        print(f"{cfg.arch} on {root} ({len(train.dataset)} train / {len(val.dataset)} val "
              f"images, {len(classes)} classes), {dev}{prec}, augment: "
              f"{spec.describe(augment)}")
    history = []
    try:
        for epoch in range(start, cfg.epochs):
            train.set_epoch(epoch)
            loss, seconds, images = _train_epoch(net, train, opt, sched, scaler, cfg, prec, main,
                                                 producer)
            top1, top5 = evaluate(model, val, prec)
            rec = {"epoch": epoch, "loss": loss, "top1": top1, "top5": top5,
                   "images_per_s": images / seconds}
            history.append(rec)
            if main:
                print(f"epoch {epoch}: loss {loss:.4f}  top-1 {top1:.2%}  top-5 {top5:.2%}  "
                      f"{rec['images_per_s']:.1f} img/s")
                save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                      "schedule": sched.state_dict(), "scaler": scaler.state_dict(),
                      "loader": train.state_dict(), "augment": spec.describe(augment),
                      "saliency": bank.state_dict() if bank is not None else None,
                      "classes": classes, "config": vars(cfg)}, out / "checkpoint.pt")
                with open(out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
    finally:
        if bank is not None:
            del train, producer  # the pipeline reads the bank until it is shut down
            gc.collect()
            bank.close()
    return history


def save(state: dict, path) -> None:
    """``torch.save`` that a kill cannot leave half-written: the state goes to a temporary
    file in the same folder, is flushed to disk, and then atomically replaces ``path`` (the
    folder's entry is synced too), so ``path`` is always the old or the new checkpoint.

    Parameters
    ----------
    state : dict
    path : str or Path
    """
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed save
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load(path, device="cpu") -> dict:
    """A checkpoint written by :func:`save`; an unreadable file is named in the error."""
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
    except (EOFError, RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(f"checkpoint {str(path)!r} cannot be read ({err}); it is not a "
                         f"complete dali-regaug checkpoint") from err
    if not isinstance(ck, dict) or "loader" not in ck:
        raise ValueError(f"checkpoint {str(path)!r} is not a dali-regaug training checkpoint")
    return ck


def setup_distributed(dev: str):
    """``(device, distributed)`` of this rank. On GPU the rank's device becomes CUDA's
    current device before the process group exists: NCCL's communicator and the buffers of
    ``barrier`` and ``broadcast_object_list`` go to the current device, which would be
    device 0 on every rank (a hang, or NCCL's duplicate-GPU error)."""
    device = torch.device("cpu")
    if dev == "gpu":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev == "gpu" else "gloo")
    return device, distributed


def _bank(cfg, augment, n, distributed=False):
    """The saliency bank of a run, or None; checks that producer and operators go together.
    Under DDP each node has one bank in its shared memory, and every rank's updates reach
    every node's bank (:mod:`dali_regaug.saliency.shared`)."""
    guided = [c.name for c in spec.parse(augment) if c.operator.guided]
    if guided and not cfg.saliency:
        raise ValueError(f"augment uses {', '.join(guided)}, which reads saliency maps: "
                         f"choose a producer with --saliency free|vanilla|lowres|gradcam")
    if cfg.saliency and not guided:
        raise ValueError(f"--saliency {cfg.saliency} fills a bank that nothing reads: add a "
                         f"guided operator to --augment ("
                         f"{', '.join(n for n, d in catalog.operators().items() if d.guided)})")
    if not cfg.saliency:
        return None
    from dali_regaug.saliency import SaliencyBank

    if not distributed:
        return SaliencyBank(n, cfg.saliency_size)
    return shared.node_bank(n, cfg.saliency_size)


class SaliencyStep:
    """One producer feeding the bank from the training loop: :meth:`watch` the batch before
    the forward, :meth:`update` after the step."""

    def __init__(self, kind, model, bank, layer):
        if kind not in producers.PRODUCERS:
            raise ValueError(f"saliency={kind!r}: expected one of {producers.PRODUCERS}")
        self.kind, self.model, self.bank, self.layer = kind, model, bank, layer
        self.free = producers.FreeSaliency()

    def watch(self, x):
        return self.free.watch(x) if self.kind == "free" else x

    def update(self, x, y, info, prec):
        if self.kind == "free":
            maps = self.free.maps(x)
        else:
            with prec.autocast():
                if self.kind == "gradcam":
                    maps = producers.gradcam(self.model, prec.input(x), y, layer=self.layer)
                else:
                    maps = getattr(producers, self.kind)(self.model, prec.input(x), y)
        visible = info.get("visible")
        if visible is not None:  # at the maps' resolution: cells mostly of the own image
            visible = F.adaptive_avg_pool2d(visible[:, None].float().to(maps.device),
                                            maps.shape[-2:])[:, 0] >= 0.5
        shared.update(self.bank, info["sample_id"], maps, info["crop"], info["flip"], visible)


def _train_epoch(net, loader, opt, sched, scaler, cfg, prec, main, producer=None):
    net.train()
    bar = _bar(len(loader), f"epoch {loader.epoch}", cfg.progress and main)
    # The loss is summed on its device and read every LOG_EVERY steps: a read per step
    # (loss.item()) would wait for the GPU at every step.
    total, count, images, t0 = 0.0, 0, 0, time.perf_counter()
    for x, y, *info in loader:
        loss = train_step(net, x, y, info[0] if info else None, opt=opt, scaler=scaler,
                          prec=prec, label_smoothing=cfg.label_smoothing, producer=producer)
        sched.step()
        total, count, images = total + loss.detach().float(), count + 1, images + len(x)
        if bar is not None:
            if count % LOG_EVERY == 0 or count == len(loader):
                bank = {} if producer is None else \
                    {"bank": f"{producer.bank.fill_ratio():.0%}"}
                bar.set_postfix(loss=f"{float(total) / count:.3f}",
                                img_s=f"{images / (time.perf_counter() - t0):.1f}", **bank)
            bar.update()
    if bar is not None:
        bar.close()
    return float(total) / max(count, 1), time.perf_counter() - t0, images


def train_step(net, x, y, info, *, opt, scaler, prec, label_smoothing=0.0, producer=None):
    """One optimizer step on batch ``x`` (targets ``y``: labels or the mixed triple); with a
    :class:`SaliencyStep`, its maps of the batch go to the bank (``info``: the loader's
    ``sample_id``, ``crop`` and ``flip``). Returns the loss."""
    if producer is not None:
        x = producer.watch(x)
    with prec.autocast():
        logits = net(prec.input(x))
        if isinstance(y, tuple):
            loss = mixed_cross_entropy(logits, *y, label_smoothing=label_smoothing)
        else:
            loss = F.cross_entropy(logits, y.to(logits.device), label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    if producer is not None:
        producer.update(x, y, info, prec)
    return loss


@torch.no_grad()
def evaluate(model, loader, prec) -> tuple[float, float]:
    """Top-1 and top-5 accuracy over the loader's samples (all ranks together)."""
    model.eval()
    hits = torch.zeros(3, dtype=torch.float64)
    for x, y in loader:
        with prec.autocast():
            logits = model(prec.input(x))
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu()
        match = top == y.cpu()[:, None]
        hits += torch.tensor([match[:, 0].sum().item(), match.any(1).sum().item(), len(y)],
                             dtype=torch.float64)
    if torch.distributed.is_initialized():
        hits = hits.to(next(model.parameters()).device)
        torch.distributed.all_reduce(hits)
        hits = hits.cpu()
    return (hits[0] / hits[2]).item(), (hits[1] / hits[2]).item()


@dataclass(frozen=True)
class Precision:
    """Mixed precision and memory format of the model's inputs."""

    device: torch.device
    amp: bool
    channels_last: bool

    @classmethod
    def choose(cls, device, amp=None, channels_last=None):
        """Both on by default on GPU, off on CPU; either can be forced."""
        gpu = device.type == "cuda"
        return cls(device, gpu if amp is None else amp,
                   gpu if channels_last is None else channels_last)

    @property
    def dtype(self):
        """float16 on GPU (tensor cores), bfloat16 on CPU (no loss scaling needed)."""
        return torch.float16 if self.device.type == "cuda" else torch.bfloat16

    @property
    def scale_loss(self) -> bool:
        return self.amp and self.dtype == torch.float16

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.amp)

    def input(self, x):
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __str__(self):
        parts = ([f"AMP {str(self.dtype).removeprefix('torch.')}"] if self.amp else []) + \
            (["channels-last"] if self.channels_last else [])
        return "".join(f", {p}" for p in parts)


def _bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", dynamic_ncols=True)
