"""SaliencyBank: maps go from a view (crop window and flip) to original-image coordinates and
back to any view; blending, erased pixels, bad input; a pipeline reading while the trainer
writes never sees a torn map; other processes share it by name; it round-trips through a
checkpoint."""

import multiprocessing as mp

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nvidia.dali import fn, pipeline_def

from dali_regaug.saliency import SaliencyBank

S = 16


@pytest.fixture
def bank():
    with SaliencyBank(8, S, mode="overwrite") as b:
        yield b


def spot(crops, flips, hw, centre, sigma=0.06):
    """A Gaussian hot spot at ``centre`` (x, y in original fractions), as each view sees it."""
    h, w = hw
    out = []
    for (y0, x0, y1, x1), f in zip(crops, flips):
        ys = y0 + (y1 - y0) * (np.arange(h) + 0.5) / h
        xs = x0 + (x1 - x0) * (np.arange(w) + 0.5) / w
        xs = xs[::-1] if f else xs
        out.append(np.exp(-((xs[None] - centre[0]) ** 2 + (ys[:, None] - centre[1]) ** 2)
                          / (2 * sigma ** 2)))
    return np.array(out, np.float32)


def window(draw_u, centre):
    """A crop window containing ``centre`` with room around it."""
    x0, y0 = (c - draw_u() * 0.35 - 0.1 for c in centre)
    x1, y1 = (c + draw_u() * 0.35 + 0.1 for c in centre)
    return np.clip([y0, x0, y1, x1], 0, 1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), flip=st.booleans(), flip2=st.booleans())
def test_a_hot_spot_lands_where_it_is_in_the_original(seed, flip, flip2):
    """Update from one crop and flip; read back into that view and into another: the hot
    spot is where the original image has it, within a bank cell, and the map matches the
    view's own within the bank's resolution."""
    rs = np.random.default_rng(seed)
    centre = rs.uniform(0.25, 0.75, 2)
    crops = np.array([window(rs.uniform, centre), window(rs.uniform, centre)])
    with SaliencyBank(4, S, mode="overwrite") as bank:
        bank.update([2], spot(crops[:1], [flip], (64, 64), centre), crops[:1], [flip])
        for crop, f in ((crops[0], flip), (crops[1], flip2)):
            got, present = bank.read([2], crop[None], [f], (64, 64))
            want = spot(crop[None], [f], (64, 64), centre)
            assert present.tolist() == [True]
            peak = np.unravel_index(got[0].argmax(), got[0].shape)
            true = np.unravel_index(want[0].argmax(), want[0].shape)
            cell = np.array([crop[2] - crop[0], crop[3] - crop[1]]) * S  # bank cells in view
            assert (np.abs(np.subtract(peak, true)) <= 64 / cell + 1).all(), (peak, true)
            assert np.abs(got - want).mean() < 0.1


def test_flip_is_undone_before_storing(bank):
    """A hot spot on the left of a mirrored full view is on the right of the original."""
    full = np.array([[0.0, 0.0, 1.0, 1.0]])
    view = np.zeros((1, 32, 32), np.float32)
    view[0, 12:20, 2:6] = 1.0
    bank.update([0], view, full, [1])
    col = bank.maps[0].astype(np.float32).sum(0)
    assert col[S - 3:].sum() > 0 and col[:S // 2].sum() == 0


def test_erased_pixels_update_nothing_and_modes_blend(bank):
    full = np.array([[0.0, 0.0, 1.0, 1.0]])
    bank.update([1], np.ones((1, 32, 32), np.float32), full, [0])
    assert (bank.maps[1] == 1).all() and bank.version[1] == 1
    visible = np.ones((1, 32, 32), bool)
    visible[0, :, :16] = False  # the left half was erased in this view
    bank.update([1], np.full((1, 32, 32), 3.0, np.float32), full, [0], visible=visible)
    assert (bank.maps[1][:, :S // 2] == 1).all() and (bank.maps[1][:, S // 2:] == 3).all()
    with SaliencyBank(2, S, mode="ema", momentum=0.25) as ema:
        for value in (4.0, 8.0):  # the first update overwrites, then 4 + 0.25 (8 - 4)
            ema.update([0], np.full((1, 8, 8), value, np.float32), full, [0])
        assert np.allclose(ema.maps[0], 5.0)


def test_a_crop_updates_only_the_cells_it_covers(bank):
    bank.update([3], np.ones((1, 16, 16), np.float32), np.array([[0.5, 0.0, 1.0, 0.5]]), [0])
    m = bank.maps[3].astype(np.float32)
    assert (m[S // 2:, :S // 2] == 1).all() and m.sum() == (S // 2) ** 2
    assert bank.fill_ratio() == 1 / 8


def test_nan_maps_are_skipped_and_counted(bank):
    maps = np.ones((2, 8, 8), np.float32)
    maps[1, 3, 3] = np.nan
    bank.update([4, 5], maps, np.tile([0.0, 0.0, 1.0, 1.0], (2, 1)), [0, 0])
    assert bank.version[4] == 1 and bank.version[5] == 0 and bank.skipped == 1


def test_bad_input_is_refused(bank):
    full = np.array([[0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(IndexError, match=r"out of range \[0, 8\)"):
        bank.update([8], np.ones((1, 8, 8), np.float32), full, [0])
    with pytest.raises(ValueError, match="floating point"):
        bank.update([0], np.ones((1, 8, 8), np.int32), full, [0])
    with pytest.raises(ValueError, match=r"\(B, h, w\)"):
        bank.update([0], np.ones((8, 8), np.float32), full, [0])
    with pytest.raises(ValueError, match="visible has shape"):
        bank.update([0], np.ones((1, 8, 8), np.float32), full, [0], visible=np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="y0 < y1"):
        bank.read([0], np.array([[0.5, 0.0, 0.2, 1.0]]), [0], (8, 8))
    with pytest.raises(ValueError, match="size=2"):
        SaliencyBank(4, 2)
    with pytest.raises(TypeError, match="integers"):
        bank.read(np.array([0.5]), full, [0], (8, 8))


def test_state_dict_round_trips_through_torch_save(bank, tmp_path):
    bank.update([6], torch.rand(1, 16, 16), torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
                torch.tensor([1]))
    torch.save({"bank": bank.state_dict()}, tmp_path / "ck.pt")
    with SaliencyBank(8, S) as other:
        other.load_state_dict(torch.load(tmp_path / "ck.pt", weights_only=False)["bank"])
        assert np.array_equal(other.maps, bank.maps) and other.version[6] == 1
    with SaliencyBank(9, S) as wrong, pytest.raises(ValueError, match="checkpoint bank"):
        wrong.load_state_dict(bank.state_dict())


def _writer(name, n, size, stop):
    """Update ``k`` writes constant maps of value ``k`` over the whole image, until told."""
    bank = SaliencyBank.attach(name, mode="overwrite")
    full, k = np.tile([0.0, 0.0, 1.0, 1.0], (n, 1)), 0
    while not stop.is_set():
        k = k % 1000 + 1
        bank.update(np.arange(n), np.full((n, size, size), k, np.float32), full, np.zeros(n))
    bank.close()


def test_a_pipeline_reading_while_the_trainer_writes_sees_whole_maps():
    """A trainer process writes update ``k`` as constant maps of value ``k`` while a DALI
    pipeline reads the same samples (truly in parallel, unlike threads under the GIL):
    every map the pipeline sees is one update's (all cells equal), never parts of two."""
    n, size = 64, 64
    full = np.tile([0.0, 0.0, 1.0, 1.0], (n, 1))
    with SaliencyBank(n, size, mode="overwrite") as bank:
        @pipeline_def(batch_size=n, num_threads=2, device_id=None, prefetch_queue_depth=2)
        def pipe():
            sample_ids = fn.external_source(source=lambda: list(np.arange(n)), batch=True)
            return fn.python_function(
                sample_ids, batch_processing=True,
                function=lambda i: list(bank.read(i, full, np.zeros(n), (size, size))[0]))

        p = pipe()
        p.build()
        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        writer = ctx.Process(target=_writer, args=(bank.name, n, size, stop))
        writer.start()
        while bank.version[0] == 0:
            pass
        seen = set()
        try:
            for _ in range(100):
                for m in p.run()[0].as_array():
                    assert (m == m.flat[0]).all(), f"torn map: values {np.unique(m)}"
                    seen.add(float(m.flat[0]))
        finally:
            stop.set()
            writer.join(60)
        assert len(seen) > 5  # the reads really overlapped the writes


def _child_update(name, value):
    bank = SaliencyBank.attach(name)
    bank.update([1], np.full((1, 8, 8), value, np.float32),
                np.array([[0.0, 0.0, 1.0, 1.0]]), [0])
    bank.close()


def _child_pickled(bank, value):
    bank.update([2], np.full((1, 8, 8), value, np.float32),
                np.array([[0.0, 0.0, 1.0, 1.0]]), [0])


def test_other_processes_share_the_bank(bank):
    """A spawned process attaches by name, another gets the bank pickled; both updates are
    seen here, and the segment outlives the children."""
    ctx = mp.get_context("spawn")
    for target, args in ((_child_update, (bank.name, 7.0)), (_child_pickled, (bank, 9.0))):
        proc = ctx.Process(target=target, args=args)
        proc.start()
        proc.join(60)
        assert proc.exitcode == 0
    assert (bank.maps[1] == 7).all() and (bank.maps[2] == 9).all()
    assert bank.version[1] == bank.version[2] == 1
    assert SaliencyBank.attach(bank.name).fill_ratio() == 2 / 8


def test_a_closed_bank_says_so_instead_of_hanging_its_readers():
    bank = SaliencyBank(2, 4)
    bank.close()
    with pytest.raises(RuntimeError, match="is closed"):
        bank.read([0], [[0, 0, 1, 1]], [0], (4, 4))
    with pytest.raises(RuntimeError, match="is closed"):
        bank.update([0], np.ones((1, 4, 4), np.float32), [[0, 0, 1, 1]], [0])
