"""Kernels against the NumPy reference, over shapes, layouts, dtypes and parameters: the CUDA
kernels run by the CPU emulator, and their numba twins (the CPU path) against the emulator.
Integer-coordinate masks agree exactly; noise fills to float tolerance against NumPy and
within NOISE_ULPS between the emulator and numba."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import NOISE_ULPS, assert_match, make_images
from dali_regaug import fill as fill_mod
from dali_regaug.ops import composite
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
sizes = st.lists(st.tuples(st.integers(1, 64), st.integers(1, 64)), min_size=1, max_size=5)
dtypes = st.sampled_from([np.uint8, np.float16, np.float32])
layouts = st.sampled_from(["HWC", "CHW"])
fills = st.one_of(st.floats(-3, 300, width=32), st.just([0.5, -1.0, 2.0]),
                  st.sampled_from(["random", "region"]))
launch_options = st.sampled_from([{}, {"block": 32, "max_grid_x": 2}, {"index": "i64"},
                                  {"block": 64, "max_grid_x": 1, "index": "i64"}])


def storable(fill, dtype):
    """``fill`` as uint8 images can hold it (whole numbers in [0, 255]); others as drawn."""
    if np.dtype(dtype) != np.uint8 or isinstance(fill, str):
        return fill
    return np.clip(np.rint(np.asarray(fill, float)), 0, 255).tolist()


def check(op, hws, dtype, layout, channels, seed, emulator, options, name):
    rs = np.random.default_rng(seed)
    images = make_images(rs, hws, channels, dtype, layout)
    params = op.draw(np.array(hws))
    expected = op.apply(images, params, backend="numpy")
    actual = op.apply(images, params, backend=emulator, **options)
    noisy = op.fill.mode != 0 and np.dtype(dtype) != np.uint8
    assert_match(name, expected, actual, params, exact=not noisy, rtol=1e-4, atol=2e-3)
    assert_match(f"{name}_numba", actual, op.apply(images, params), params, exact=not noisy,
                 max_ulps=NOISE_ULPS)


@SETTINGS
@given(hws=sizes, dtype=dtypes, layout=layouts, fill=fills, seed=st.integers(0, 2**32),
       r=st.floats(0, 1), d=st.tuples(st.integers(1, 12), st.integers(0, 12)),
       rotate=st.sampled_from([0, 30, 360]), reverse=st.booleans(),
       unit_prob=st.floats(0, 1), prob=st.floats(0, 1), options=launch_options)
def test_grid_mask_kernel_matches_numpy(emulator, hws, dtype, layout, fill, seed, r, d, rotate,
                                        reverse, unit_prob, prob, options):
    fill = storable(fill, dtype)
    if isinstance(fill, list) and len(fill) != 3:
        return
    op = GridMask(r=r, d=(d[0], d[0] + d[1]), rotate=rotate, reverse=reverse,
                  unit_prob=unit_prob, prob=prob, fill=fill, layout=layout, seed=seed)
    check(op, hws, dtype, layout, 3, seed, emulator, options, "grid_mask")


@SETTINGS
@given(hws=sizes, dtype=dtypes, layout=layouts, fill=fills, seed=st.integers(0, 2**32),
       count=st.tuples(st.integers(1, 4), st.integers(0, 3)), prob=st.floats(0, 1),
       channels=st.sampled_from([1, 3, 4]), options=launch_options)
def test_random_erasing_kernel_matches_numpy(emulator, hws, dtype, layout, fill, seed, count,
                                             prob, channels, options):
    fill = storable(fill, dtype)
    if isinstance(fill, list):
        fill = fill[0]
    op = RandomErasing(prob=prob, count=(count[0], count[0] + count[1]), fill=fill,
                       layout=layout, seed=seed)
    check(op, hws, dtype, layout, channels, seed, emulator, options, "random_erasing")


@SETTINGS
@given(hws=sizes, dtype=dtypes, layout=layouts, fill=fills, seed=st.integers(0, 2**32),
       size=st.integers(1, 30), count=st.integers(1, 4), options=launch_options)
def test_cutout_kernel_matches_numpy(emulator, hws, dtype, layout, fill, seed, size, count,
                                     options):
    fill = storable(fill, dtype)
    if isinstance(fill, list):
        fill = fill[:1]
    op = Cutout(size=size, count=count, fill=fill, layout=layout, seed=seed)
    check(op, hws, dtype, layout, 3, seed, emulator, options, "cutout")


@SETTINGS
@given(hws=sizes, dtype=dtypes, layout=layouts, seed=st.integers(0, 2**32),
       weights=st.lists(st.tuples(st.sampled_from([0.0, 1.0, 0.25, 0.5, 0.9]),
                                  st.sampled_from([0.0, 1.0, 0.3])), min_size=5, max_size=5),
       boxes_used=st.booleans(), cache=st.sampled_from([1, 50, 1 << 20]), options=launch_options)
def test_composite_kernel_matches_numpy(emulator, hws, dtype, layout, seed, weights, boxes_used,
                                        cache, options):
    """Also with the NumPy path taking pixels a few at a time (``cache``), with no box in
    use (a weight per sample: MixUp's rows), and with infinite pixels in ``b``."""
    rs = np.random.default_rng(seed)
    a = make_images(rs, hws, 3, dtype, layout)
    b = make_images(rs, hws, 3, dtype, layout)
    if np.dtype(dtype) != np.uint8:  # where M is 1, a copy of a, not a + 0 * inf = nan
        for x in b:
            x.flat[rs.integers(0, x.size)] = np.inf
    n = len(hws)
    hw = np.array(hws)
    y0, x0 = rs.integers(0, hw[:, :1] + 1, (n, 2)), rs.integers(0, hw[:, 1:] + 1, (n, 2))
    boxes = np.stack([y0, x0, y0 + rs.integers(0, 20, (n, 2)), x0 + rs.integers(0, 20, (n, 2))], -1)
    w = np.array(weights[:n], np.float32)
    p = composite.params(boxes, rs.integers(0, 3, n) * boxes_used, w[:, 0], w[:, 1])
    with mock.patch.object(composite, "CACHE_BYTES", cache):
        expected = composite.apply(a, b, p, layout=layout, backend="numpy")
    actual = composite.apply(a, b, p, layout=layout, backend=emulator, **options)
    assert_match("composite", expected, actual, p)
    assert_match("composite_numba", actual, composite.apply(a, b, p, layout=layout), p)


def test_stacked_batch_round_trips_as_stacked(emulator):
    rs = np.random.default_rng(1)
    images = np.stack(make_images(rs, [(16, 24)] * 4, 3, np.uint8, "CHW"))
    op = Cutout(size=8, layout="CHW", seed=3)
    p = op.draw(np.array([(16, 24)] * 4))
    out = op.apply(images, p, backend=emulator)
    assert isinstance(out, np.ndarray) and out.shape == images.shape
    np.testing.assert_array_equal(out, op.apply(images, p, backend="numpy"))


@pytest.mark.parametrize("fill", ["random", "region"])
@pytest.mark.parametrize("layout", ["HWC", "CHW"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_random_fills_agree_across_numpy_work_chunks(emulator, monkeypatch, fill, layout, dtype):
    """The NumPy path fills dropped pixels in chunks; tiny chunks must change nothing."""
    monkeypatch.setattr(fill_mod, "CHUNK", 7)
    hws = [(23, 31), (23, 31), (17, 9), (23, 31)]
    for op in (GridMask(d=(4, 9), fill=fill, layout=layout, seed=5),
               RandomErasing(prob=1.0, count=3, fill=fill, layout=layout, seed=6)):
        check(op, hws, dtype, layout, 3, 7, emulator, {}, f"chunks_{type(op).__name__}")
