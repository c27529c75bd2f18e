"""Image datasets in the ImageNet folder layout (``root/<class>/<image>``), as torchvision's
``ImageFolder`` reads them: classes sorted by name, labels their index, files sorted.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Dataset:
    """Files with one label each; ``sample_id`` is the index into ``files``."""

    files: list
    labels: list
    classes: list

    def __len__(self):
        return len(self.files)

    def fingerprint(self) -> str:
        """A short hash of the files (relative to their common folder, so that a moved
        dataset keeps it), their labels and the classes: what a resumed stream reads."""
        root = os.path.commonpath(self.files) if len(self.files) > 1 else ""
        h = hashlib.sha256()
        for f, label in zip(self.files, self.labels):
            h.update(f"{os.path.relpath(f, root) if root else os.path.basename(f)}\t{label}\n"
                     .encode())
        h.update("\n".join(map(str, self.classes)).encode())
        return f"{len(self.files)} files, sha256 {h.hexdigest()[:16]}"


def scan(root, *, skip_corrupt=False, classes=None) -> Dataset:
    """Read ``root/<class>/<image>`` into a :class:`Dataset`.

    Parameters
    ----------
    root : str or Path
    classes : list of str, optional
        The class index to label with, such as the training split's for a validation split:
        a folder not in it is an error (its label would be meaningless), and a class with no
        folder here is warned about. By default the folders found, sorted.
    skip_corrupt : bool
        Decode every file first (reduced-size JPEG decode) and leave out those that fail,
        with a warning naming them. Otherwise a corrupt file is found and named only if
        decoding fails during training (see :func:`find_corrupt`).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {str(root)!r} does not exist (expected "
                                f"root/<class>/<image>; `dali-regaug make-sample-data` builds one)")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not folders:
        raise ValueError(f"data folder {str(root)!r} has no class sub-folders "
                         f"(expected root/<class>/<image>)")
    classes = folders if classes is None else list(classes)
    unknown = sorted(set(folders) - set(classes))
    if unknown:
        raise ValueError(f"data folder {str(root)!r} has classes the index does not know: "
                         f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''} "
                         f"(the training split has {len(classes)} classes)")
    missing = [c for c in classes if c not in folders]
    if missing:
        warnings.warn(f"data folder {str(root)!r} has no folder for {len(missing)} of the "
                      f"{len(classes)} classes: {', '.join(missing[:10])}"
                      f"{' ...' if len(missing) > 10 else ''}", stacklevel=2)
    files, labels = [], []
    for label, name in enumerate(classes):
        if name not in folders:
            continue
        found = sorted(str(p) for p in (root / name).iterdir()
                       if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not found:
            raise ValueError(f"class folder {str(root / name)!r} has no images "
                             f"({', '.join(EXTENSIONS)})")
        files += found
        labels += [label] * len(found)
    if skip_corrupt:
        bad = set(find_corrupt(files))
        if bad:
            warnings.warn(f"skipping {listing(sorted(bad), 'corrupt image')}", stacklevel=2)
            keep = [i for i, f in enumerate(files) if f not in bad]
            files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    return Dataset(files, labels, classes)


def find_corrupt(files, workers=None) -> list:
    """The files that do not decode (PIL, JPEGs at 1/8 scale), in order."""
    ok = list(ThreadPoolExecutor(workers or os.cpu_count()).map(_decodes, files))
    return [f for f, good in zip(files, ok) if not good]


def listing(files, noun="image", limit=10) -> str:
    """``"<n> <noun>(s): a, b, ..."``, naming at most ``limit`` files."""
    more = " ..." if len(files) > limit else ""
    return f"{len(files)} {noun}(s): {', '.join(files[:limit])}{more}"


def _decodes(path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (im.width // 8 + 1, im.height // 8 + 1))
            im.load()
        return True
    except Exception:  # any decoder failure means the file is unusable
        return False
