"""The PyTorch loader: image/label alignment through shuffling and CutMix, epochs that
follow the batch count, exact resume, and DDP shards that partition the dataset."""

import os
import socket
import time

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from dali_regaug import registry
from dali_regaug.pipelines import scan
from dali_regaug.torch import Loader
from datasets import id_folder, pixels


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return id_folder(tmp_path_factory.mktemp("ids") / "d", n=22, classes=3)


def _loader(root, **kw):
    args = dict(batch_size=4, size=24, device="cpu", seed=7, with_info=True)
    return Loader.train_loader(root, **{**args, **kw})


def test_cutmix_pastes_the_partner_and_labels_follow_the_pixels(folder):
    labels_of = np.array(scan(folder).labels)
    loader = _loader(folder, augment="cutmix(alpha=1)", area=(1.0, 1.0))
    checked = 0
    for _ in range(2):
        for x, (y_a, y_b, lam), info in loader:
            ids = info["sample_id"].numpy()
            red = np.rint(pixels(x.numpy())[..., 0])  # each image's id, or its partner's
            own = red == ids[:, None, None]
            partner_ids = np.array([np.unique(r[~o])[0] if (~o).any() else -1
                                    for r, o in zip(red, own)], dtype=int)
            np.testing.assert_allclose(1 - lam.numpy(), 1 - own.mean((1, 2)), atol=1e-6)
            assert np.array_equal(y_a.numpy(), labels_of[ids])
            pasted = partner_ids >= 0
            assert np.array_equal(y_b.numpy()[pasted], labels_of[partner_ids[pasted]])
            assert all(set(np.unique(r)) <= {i, p} for r, i, p in zip(red, ids, partner_ids))
            checked += pasted.sum()
    assert checked > 8


def test_batches_are_the_pipelines_buffers_and_outlive_later_batches(folder, monkeypatch):
    """Zero-copy hand-off: with DALI's dynamic executor the iterator wraps the pipeline's
    output buffers through DLPack (the same code for GPU tensors) instead of copying them
    into new tensors; a batch the trainer keeps is not overwritten by later ones."""
    import nvidia.dali.plugin.pytorch as dali_torch

    def copy(*args, **kwargs):
        raise AssertionError("the loader copied a batch")

    monkeypatch.setattr(dali_torch, "feed_ndarray", copy)
    loader = _loader(folder, augment="gridmask(d=4-8)")
    assert loader.pipe.exec_dynamic
    batches = iter(loader)
    first, _, info = next(batches)
    kept, kept_ids = first.clone(), info["sample_id"].clone()
    later = [next(batches)[0] for _ in range(4)]
    assert torch.equal(first, kept) and torch.equal(info["sample_id"], kept_ids)
    assert len({t.data_ptr() for t in [first, *later]}) == 5


def test_len_is_the_number_of_batches_of_every_epoch(folder):
    loader = _loader(folder, batch_size=4)
    assert len(loader) == 22 // 4
    for epoch in range(3):
        loader.set_epoch(epoch)
        ids = [info["sample_id"] for _, _, info in loader]
        assert len(ids) == len(loader)
        assert len(set(torch.cat(ids).tolist())) == len(loader) * 4  # no repeats within an epoch


def test_epoch_schedule_holds_for_prefetched_batches(folder):
    """GridMask ramps from probability 0 (epoch 0) to 1 (epoch 1 on): the batches of epoch 1
    that the pipeline prefetched during epoch 0 must already be masked."""
    loader = _loader(folder, augment="gridmask(d=4-8,p=1,ramp=1)", size=32,
                     prefetch_queue_depth=3)
    masked = [[bool((x == 0).any(dim=(1, 2, 3)).all()) if e else bool((x == 0).any())
               for x, _, _ in loader] for e in range(3)]
    assert masked[0] == [False] * len(loader)
    assert masked[1] == masked[2] == [True] * len(loader)


def test_set_epoch_before_start_sets_it_and_later_checks_it(folder):
    loader = _loader(folder)
    loader.set_epoch(3)
    assert loader.epoch == 3
    list(loader)
    loader.set_epoch(4)
    with pytest.raises(ValueError, match="at epoch 4"):
        loader.set_epoch(7)


def _take(loader, n):
    out = []
    while len(out) < n:
        for x, y, info in loader:
            out.append((x.clone(), [t.clone() for t in y], info["sample_id"].clone()))
            if len(out) == n:
                break
    return out


@pytest.mark.parametrize("stop", [3, 5, 9])
def test_resume_continues_the_same_augmented_stream(folder, stop):
    """Stop after ``stop`` batches (mid-epoch, at an epoch end, in the next epoch), save,
    load into a new loader: the rest equals an uninterrupted run, bit for bit."""
    spec = "gridmask(d=4-12,p=0.7,ramp=2) + random_erasing(p=0.5) + cutmix(alpha=1,p=0.8)"
    full = _take(_loader(folder, augment=spec), 14)
    first = _loader(folder, augment=spec)
    _take(first, stop)
    ops = registry.ops(first.pipe).values()
    deadline = time.monotonic() + 30
    while min(op.keys.batches for op in ops) <= stop and time.monotonic() < deadline:
        time.sleep(0.01)  # let the pipeline run ahead, as it does while a model trains
    assert min(op.keys.batches for op in ops) > stop
    state = first.state_dict()
    del first
    resumed = _loader(folder, augment=spec)
    resumed.load_state_dict(state)
    rest = _take(resumed, 14 - stop)
    for k, (a, b) in enumerate(zip(full[stop:], rest)):
        assert torch.equal(a[2], b[2]), f"batch {stop + k}: sample ids differ"
        assert torch.equal(a[0], b[0]), f"batch {stop + k}: images differ"
        assert all(torch.equal(s, t) for s, t in zip(a[1], b[1])), f"batch {stop + k}: targets"


def _rank(rank, world, port, root, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        train = Loader.train_loader(root, batch_size=2, size=16, device="cpu", seed=3,
                                    num_threads=1, with_info=True)
        val = Loader.val_loader(root, batch_size=4, size=16, device="cpu", num_threads=1)
        epochs = [[int(i) for _, _, info in train for i in info["sample_id"]] for _ in range(2)]
        n_val = sum(len(y) for _, y in val)
        torch.save({"train": epochs, "val": n_val, "len": len(train)}, out / f"{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_ranks_read_disjoint_shards_that_cover_the_dataset(tmp_path):
    root = id_folder(tmp_path / "d", n=20, classes=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(2, port, root, tmp_path), nprocs=2)
    res = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    assert res[0]["len"] == res[1]["len"] == 5
    for epoch in range(2):
        a, b = (set(r["train"][epoch]) for r in res)
        assert len(a) == len(b) == 10 and not a & b and a | b == set(range(20))
    assert res[0]["train"][0] != res[0]["train"][1]  # reshuffled between epochs
    assert res[0]["val"] + res[1]["val"] == 20
