"""Where COCO keeps its files: the layout the detection pipeline reads and the sample writes."""

from __future__ import annotations

from pathlib import Path

SPLITS = {"train": "train2017", "val": "val2017"}


def annotations(root, split="train") -> Path:
    """COCO's annotation file of ``split`` ("train" or "val") under ``root``."""
    return Path(root) / "annotations" / f"instances_{SPLITS[split]}.json"


def images(root, split="train") -> Path:
    """COCO's image folder of ``split`` under ``root``."""
    return Path(root) / SPLITS[split]
