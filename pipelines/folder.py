"""Image datasets in the ImageNet folder layout (``root/<class>/<image>``), as torchvision's
``ImageFolder`` reads them: classes sorted by name, labels their index, files sorted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
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
        Decode every file first with the pipelines' decoder (:func:`find_corrupt`) and
        leave out those that fail, with a warning naming them. Otherwise a corrupt file is
        found and named only if decoding fails during training (:func:`naming_corrupt`).
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


class CorruptImageError(RuntimeError):
    """Files the pipelines' decoder cannot decode, named."""


@contextlib.contextmanager
def naming_corrupt(files):
    """Around a pipeline's run: a failure to read or decode becomes a
    :class:`CorruptImageError` naming those of ``files`` that do not decode (other errors,
    and failures no file explains, pass as they are)."""
    try:
        yield
    except RuntimeError as err:
        text = str(err)
        if not any(k in text for k in ("nvImageCodec", "File mapping failed")) and \
                "decod" not in text.lower():
            raise
        bad = find_corrupt(files)
        if not bad:
            raise
        raise CorruptImageError(f"cannot decode {listing(bad)}; remove them or pass "
                                f"skip_corrupt=True (--skip-corrupt) to leave them out") from err


def find_corrupt(files, workers=None, batch=32) -> list:
    """The files that the pipelines' decoder cannot decode, in order: DALI's own
    ``decoders.image`` (on the CPU) decodes them, a batch at a time, and a batch that fails
    is decoded file by file. So a file is refused exactly when training would fail on it
    (a GIF named ``.jpg``, a truncated JPEG), not by another library's rules."""
    import numpy as np
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=batch, num_threads=workers or os.cpu_count(), device_id=None,
                  prefetch_queue_depth=1, exec_dynamic=True)
    def decode():
        return fn.decoders.image(fn.external_source(name="encoded"), device="cpu",
                                 output_type=types.RGB)

    pipe = decode()
    pipe.build()

    def decodes(chunk):
        encoded = [_bytes(f) for f in chunk]
        if any(e is None or not len(e) for e in encoded):
            return False
        pipe.feed_input("encoded", [np.frombuffer(e, np.uint8) for e in encoded])
        try:
            pipe.run()
        except RuntimeError:  # the pipeline stays usable for the next batch
            return False
        return True

    bad = []
    for start in range(0, len(files), batch):
        chunk = list(files[start:start + batch])
        if not decodes(chunk):
            bad += [f for f in chunk if not decodes([f])]
    return bad


def _bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def listing(files, noun="image", limit=10) -> str:
    """``"<n> <noun>(s): a, b, ..."``, naming at most ``limit`` files."""
    more = " ..." if len(files) > limit else ""
    return f"{len(files)} {noun}(s): {', '.join(files[:limit])}{more}"
