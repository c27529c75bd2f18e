"""The training settings of ``dali-regaug train`` (its flags), apart from the trainer so that
the command line is built without torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    """Training settings (the CLI flags)."""

    data: str | None = None
    out: str = "out/train"
    arch: str = "resnet18"
    epochs: int = 2
    batch_size: int = 32
    size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-5
    label_smoothing: float = 0.1
    augment: str = "gridmask(r=0.6,d=32-96,p=0.8) + cutmix(alpha=1.0,p=0.5)"
    ramp: bool = True  # GridMask's probability ramp over the run, unless the spec sets one
    device: str = "auto"
    seed: int = 0
    workers: int | None = None
    skip_corrupt: bool = False
    amp: bool | None = None  # None: on for GPU
    channels_last: bool | None = None  # None: on for GPU
    resume: str | None = None
    progress: bool = True
    saliency: str | None = None  # free, vanilla, lowres or gradcam
    saliency_size: int = 16
    gradcam_layer: str = "layer4"
