"""COCO boxes as DALI's readers and box operators can take them.

Real COCO files have boxes a fraction of a pixel past the image edge (rounding in the
annotation tool); DALI's ``random_bbox_crop`` then aborts on its bounds assert, naming no
image. :func:`checked` reads the annotations once: a box within ``tolerance`` pixels of the
image is clipped to it and counted; a box further out is skipped with a warning naming the
image id and the annotation id, or, with ``strict``, raises. When something changed, the
reader gets a corrected copy of the file (kept in the cache, keyed by the original file and
the settings), else the original.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Report:
    """What :func:`checked` did to a file's boxes."""

    clipped: int = 0
    skipped: list = field(default_factory=list)  # (image id, annotation id, bbox)


def checked(path, *, tolerance=1.0, strict=False, cache=None) -> tuple[Path, Report]:
    """``(annotations file for the reader, report)``.

    Parameters
    ----------
    path : str or Path
        A COCO ``instances_*.json``.
    tolerance : float
        Pixels a box may reach past the image and still be clipped (>= 0).
    strict : bool
        Raise on a box beyond the tolerance instead of skipping it.
    cache : str or Path, optional
        Folder for corrected copies; default ``~/.cache/dali-regaug/coco-annotations``.
    """
    path = Path(path)
    if not tolerance >= 0:
        raise ValueError(f"tolerance={tolerance!r}: expected a number of pixels >= 0")
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{tolerance}|"
                         f"{strict}".encode()).hexdigest()[:20]
    folder = Path(cache) if cache else Path(os.environ.get(
        "XDG_CACHE_HOME", Path.home() / ".cache")) / "dali-regaug" / "coco-annotations"
    fixed, note = folder / f"{key}.json", folder / f"{key}.report.json"
    if note.is_file():
        report = Report(**json.loads(note.read_text()))
        _warn(path, report)
        return (fixed if fixed.is_file() else path), report
    with open(path) as f:
        data = json.load(f)
    report = _check(data, path, tolerance, strict)
    folder.mkdir(parents=True, exist_ok=True)
    if report.clipped or report.skipped:
        tmp = fixed.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, fixed)
    note.write_text(json.dumps(vars(report)))
    _warn(path, report)
    return (fixed if fixed.is_file() else path), report


def _check(data, path, tolerance, strict) -> Report:
    sizes = {img["id"]: (img["width"], img["height"]) for img in data.get("images", [])}
    report, kept = Report(), []
    for ann in data.get("annotations", []):
        x, y, w, h = (float(v) for v in ann["bbox"])
        if ann["image_id"] not in sizes:
            raise ValueError(f"{path}: annotation {ann.get('id')} refers to image id "
                             f"{ann['image_id']}, which the file does not list")
        iw, ih = sizes[ann["image_id"]]
        past = max(-x, -y, x + w - iw, y + h - ih)
        x0, y0 = max(x, 0.0), max(y, 0.0)
        clipped = [x0, y0, min(x + w, iw) - x0, min(y + h, ih) - y0]
        why = None
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
            why = "is not a box"
        elif past > tolerance:
            why = f"reaches {past:.2f} px past the {iw}x{ih} image"
        elif past > 0 and (clipped[2] <= 0 or clipped[3] <= 0):
            why = f"lies outside the {iw}x{ih} image"
        if why:
            msg = f"{path}: image {ann['image_id']}, annotation {ann.get('id')}: bbox " \
                  f"{ann['bbox']} {why}"
            if strict:
                raise ValueError(msg + f" (tolerance {tolerance} px)")
            report.skipped.append([ann["image_id"], ann.get("id"), ann["bbox"]])
            continue
        if past > 0:
            ann["bbox"] = clipped
            report.clipped += 1
        kept.append(ann)
    data["annotations"] = kept
    return report


def _warn(path, report):
    if report.skipped:
        shown = "; ".join(f"image {i}, annotation {a}" for i, a, _ in report.skipped[:10])
        more = " ..." if len(report.skipped) > 10 else ""
        warnings.warn(f"{path}: skipped {len(report.skipped)} boxes that are no boxes, lie "
                      f"outside their image or reach past it by more than the tolerance: "
                      f"{shown}{more}", stacklevel=3)
