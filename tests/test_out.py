"""``out=``: operators write into a buffer the caller owns (reused across batches, or the
images themselves for erasing in place), through the CPU kernels, the emulator and the NumPy
reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_images
from dali_regaug.ops import composite
from dali_regaug.batch import as_rows
from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import Mix

BACKENDS = [None, "emulator", "numpy"]


def batch(n=4, h=20, w=28, dtype=np.float32, layout="CHW", seed=0):
    return np.stack(make_images(np.random.default_rng(seed), [(h, w)] * n, 3, dtype, layout))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", [
    RandomErasing(prob=1.0, fill=0.5, layout="CHW", seed=1),
    RandomErasing(prob=1.0, fill="random", count=(1, 3), layout="CHW", seed=2),
    GridMask(d=(6, 12), fill=(0.0, 1.0, 2.0), layout="CHW", seed=3)], ids=repr)
def test_in_place_equals_a_new_batch(op, backend):
    x = batch()
    p = op.draw(np.tile(x.shape[2:], (len(x), 1)))
    expected = op.apply(x, p, backend=backend)
    inplace = x.copy()
    res = op.apply(inplace, p, out=inplace, backend=backend)
    assert res is inplace
    np.testing.assert_array_equal(inplace, expected)
    assert (inplace != x).any()  # something was erased


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_is_written_and_the_images_are_left_alone(backend):
    op = Mix(mixup_alpha=0.4, cutmix_alpha=1.0, layout="HWC", seed=4)
    x = batch(n=6, layout="HWC", dtype=np.uint8)
    p = op.draw(np.tile(x.shape[1:3], (len(x), 1)))
    partners = [x[i] for i in np.roll(np.arange(len(x)), 2)]
    expected = op.apply(x, partners, p, backend=backend)
    before, buf = x.copy(), np.empty_like(x)
    for _ in range(2):  # the same buffer serves batch after batch
        res = op.apply(x, partners, p, out=buf, backend=backend)
        assert res is buf
        np.testing.assert_array_equal(buf, expected)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_composite_out_may_be_a_but_never_b(backend):
    a, b = batch(seed=1), batch(seed=2)
    p = composite.params(np.zeros((4, 1, 4)), 0, 1.0, np.float32([0.2, 0.5, 0, 1]))
    expected = composite.apply(a, b, p, layout="CHW", backend=backend)
    res = composite.apply(a, b, p, layout="CHW", out=a, backend=backend)
    assert res is a
    np.testing.assert_array_equal(a, expected)
    with pytest.raises(ValueError, match="out overlaps b"):
        composite.apply(a, a[::-1], p, layout="CHW", out=a, backend=backend)


@pytest.mark.parametrize("out, error, match", [
    (np.empty((4, 3, 20, 27), np.float32), ValueError, r"shape \(4, 3, 20, 28\)"),
    (np.empty((4, 3, 20, 28), np.float64), ValueError, "dtype float32"),
    (np.empty((4, 3, 28, 20), np.float32).transpose(0, 1, 3, 2), ValueError, "C-contiguous"),
    ([np.empty((3, 20, 28), np.float32)] * 4, TypeError, "one array"),
])
def test_a_wrong_out_is_refused_with_what_it_needs(out, error, match):
    op = RandomErasing(prob=1.0, layout="CHW", seed=1)
    x = batch()
    with pytest.raises(error, match=match):
        op.apply(x, op.draw(np.tile(x.shape[2:], (4, 1))), out=out)


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(5)))
def test_samples_of_one_batch_in_any_order_are_read_in_place(order):
    x = batch(n=5)
    views = [x[i] for i in order]
    table, rows = as_rows(views)
    assert np.shares_memory(table, x)
    for v, r in zip(views, rows):
        np.testing.assert_array_equal(table[r], v)


def test_arrays_with_a_gap_between_them_are_copied():
    x = batch(n=5)
    table, rows = as_rows([x[0], x[2], x[1]])  # rows 0..2, every one given
    assert np.shares_memory(table, x)
    table, rows = as_rows([x[0], x[2]])  # x[1] would be read without being given
    assert not np.shares_memory(table, x)
    np.testing.assert_array_equal(table[rows], x[[0, 2]])
