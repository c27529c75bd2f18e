"""Fault campaign (issue 15), resume and recovery: a state taken at any batch resumes the
uninterrupted stream with the right epoch, another stream is refused, and a kill while a
checkpoint is saved loses only that epoch."""

import pytest
import torch

from dali_regaug.torch import Loader
from datasets import id_folder

SPEC = "gridmask(d=4-12,p=0.7,ramp=2) + random_erasing(p=0.5) + cutmix(alpha=1,p=0.8)"


@pytest.fixture(scope="module")
def ten(tmp_path_factory):
    """10 images: batches of 4 leave a partial last batch (dropped in training)."""
    return id_folder(tmp_path_factory.mktemp("ten") / "d", n=10, classes=2)


def _loader(root, **kw):
    args = dict(batch_size=4, size=16, device="cpu", seed=5, with_info=True, augment=SPEC,
                num_threads=1)
    return Loader.train_loader(root, **{**args, **kw})


def _run(loader, epochs, stop=None):
    """The usual loop; returns ``(epoch, ids, images, targets)`` per batch, and the loader's
    state after ``stop`` batches (then it stops)."""
    seen = []
    for epoch in range(loader.epoch, epochs):
        loader.set_epoch(epoch)
        for x, y, info in loader:
            seen.append((epoch, info["sample_id"].clone(), x.clone(), [t.clone() for t in y]))
            if len(seen) == stop:
                return seen, loader.state_dict()
    return seen, None


@pytest.fixture(scope="module")
def eleven(tmp_path_factory):
    """11 images: two ranks get uneven shards (5 and 6)."""
    return id_folder(tmp_path_factory.mktemp("eleven") / "d", n=11, classes=2)


@pytest.mark.parametrize("stop", range(0, 7))
@pytest.mark.parametrize("shard", [None, 0, 1], ids=["whole", "rank0of2", "rank1of2"])
def test_resume_at_every_cut_point_gives_the_uninterrupted_stream(request, stop, shard):
    """3 epochs of 2 batches: a state taken after any batch, including the last of an epoch
    and the last of the run, resumes to the same batches with the same epoch numbers; also
    on uneven shards (11 images over 2 ranks: both get two full batches of 2)."""
    ten = request.getfixturevalue("ten" if shard is None else "eleven")
    kw = {} if shard is None else dict(shard_id=shard, num_shards=2, batch_size=2)
    full, _ = _run(_loader(ten, **kw), 3)
    assert len(full) == 6
    if stop:
        head, state = _run(_loader(ten, **kw), 3, stop)
    else:
        head, state = [], _loader(ten, **kw).state_dict()
    resumed = _loader(ten, **kw)
    resumed.load_state_dict(state)
    tail, _ = _run(resumed, 3)
    got = head + tail
    assert [g[0] for g in got] == [f[0] for f in full], "epoch numbers"
    for k, (a, b) in enumerate(zip(full, got)):
        assert torch.equal(a[1], b[1]), f"batch {k}: sample ids"
        assert torch.equal(a[2], b[2]), f"batch {k}: images"
        assert all(torch.equal(s, t) for s, t in zip(a[3], b[3])), f"batch {k}: targets"


@pytest.mark.parametrize("change, saved, given", [
    (dict(batch_size=2), "saved 4", "given 2"),
    (dict(augment="cutout(size=4)"), "saved 'grid_mask", "given 'cutout"),
    (dict(seed=6), "saved 5", "given 6"),
    (dict(shard_id=1, num_shards=2), "rank: saved 0, given 1", "world_size: saved 1, given 2"),
])
def test_resume_refuses_another_stream_naming_both_values(ten, change, saved, given):
    state = _loader(ten).state_dict()
    other = _loader(ten, **change)
    with pytest.raises(ValueError, match="cannot resume") as err:
        other.load_state_dict(state)
    assert saved in str(err.value) and given in str(err.value)


def test_resume_refuses_another_file_list(ten, tmp_path):
    state = _loader(ten).state_dict()
    other = id_folder(tmp_path / "d", n=11, classes=2)
    with pytest.raises(ValueError, match="files: saved '10 files.*given '11 files"):
        _loader(other).load_state_dict(state)


KILLER = """
import io, os, signal, sys
import torch
from dali_regaug import train

real, calls = torch.save, []

def dying(obj, f, *args, **kwargs):
    calls.append(1)
    if len(calls) < 2:
        return real(obj, f, *args, **kwargs)
    buf = io.BytesIO()
    real(obj, buf, *args, **kwargs)
    data = buf.getvalue()[:1000]  # the second save dies a few bytes in, as a preempted job
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            out.write(data)
    else:
        f.write(data)
        f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = dying
train.fit(train.Config(data=sys.argv[1], out=sys.argv[2], epochs=3, batch_size=8, size=16,
                       augment="cutout(size=4)", device="cpu", workers=1, progress=False))
"""


def test_a_kill_during_the_checkpoint_save_loses_only_the_epoch_being_saved(tmp_path):
    """SIGKILL while epoch 1's checkpoint is written: epoch 0's stays whole, and --resume
    finishes the run from it."""
    import subprocess
    import sys

    from dali_regaug.train import Config, fit, load

    data = tmp_path / "data"
    for split in ("train", "val"):
        id_folder(data / split, n=16, classes=2)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(data), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    ck = load(out / "checkpoint.pt")
    assert ck["loader"]["epoch"] == 1  # epoch 0's checkpoint, whole
    history = fit(Config(data=str(data), out=str(out), epochs=3, batch_size=8, size=16,
                         augment="cutout(size=4)", device="cpu", workers=1, progress=False,
                         resume=str(out / "checkpoint.pt")))
    assert [h["epoch"] for h in history] == [1, 2]
    assert load(out / "checkpoint.pt")["loader"]["epoch"] == 3
    assert not list(out.glob(".*.tmp"))  # the killed save's temporary file is gone too


def test_resume_from_a_truncated_file_names_it(tmp_path):
    from dali_regaug.train import load

    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="checkpoint.pt.*cannot be read"):
        load(bad)
