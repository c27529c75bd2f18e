"""KeepAugment's selective cut: region scores against brute force over every pixel, the
adaptive threshold is the tau-quantile of all pixel candidates, the draw is uniform among
the allowed pixels, the salient spot is never cut, samples without a map are cut as Cutout cuts
them, and the DALI operator's output replays from its parameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import assert_match, brute_allowed, brute_pixel_scores, operator, view
from datasets import spot_bank
from dali_regaug import fn, registry
from dali_regaug.ops import rects
from dali_regaug.ops.erasing import Cutout
from dali_regaug.pipelines import sample_images, train_pipeline
from dali_regaug.ops import regions
from dali_regaug.saliency import SaliencyBank


def cell_scores(maps, size):
    """The sampler's path: grid maps, quantized, cell scores; and the cells' pixel counts."""
    n, h, w = np.shape(maps)
    q = regions.quantize(regions.to_grid(maps, h, w))
    return regions.scores(q, np.broadcast_to(size, (n, 2)), h, w), regions.areas(h, w)


def to_pixels(cells, h, w):
    """Cell values repeated over each cell's pixels."""
    ey, ex = regions.edges(h), regions.edges(w)
    return np.repeat(np.repeat(cells, np.diff(ey), -2), np.diff(ex), -1)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2), st.integers(1, 70), st.integers(1, 70), st.data())
def test_scores_are_the_region_sums_of_the_definition(n, h, w, data):
    """Uneven and even grids (70 and 45 split unevenly, 64 and 56 evenly, below 32 one cell
    per pixel), regions smaller and larger than the view."""
    rs = np.random.default_rng(h * 71 + w)
    maps = rs.random((n, h, w)) ** 3
    size = (data.draw(st.integers(1, 2 * h)), data.draw(st.integers(1, 2 * w)))
    s, _ = cell_scores(maps, size)
    np.testing.assert_array_equal(to_pixels(s, h, w), brute_pixel_scores(maps, size, h, w))


def test_the_grid_splits_evenly_when_it_can_and_covers_every_pixel():
    assert len(regions.edges(224)) - 1 == 32 and set(np.diff(regions.edges(224))) == {7}
    assert set(np.diff(regions.edges(112))) == {4}  # 28 cells
    assert len(regions.edges(20)) - 1 == 20  # one cell per pixel
    for n in (1, 31, 33, 97, 331, 1000):
        e = regions.edges(n)
        assert e[0] == 0 and e[-1] == n and (np.diff(e) >= 1).all() and len(e) <= 33
        assert np.diff(e).max() - np.diff(e).min() <= 1


def test_to_grid_averages_each_cell_and_keeps_grid_maps():
    rs = np.random.default_rng(0)
    m = rs.random((2, 45, 70))
    ey, ex = regions.edges(45), regions.edges(70)
    means = [[m[:, ey[i]:ey[i + 1], ex[j]:ex[j + 1]].mean((1, 2)) for j in range(len(ex) - 1)]
             for i in range(len(ey) - 1)]
    np.testing.assert_allclose(regions.to_grid(m, 45, 70), np.moveaxis(np.array(means), 2, 0),
                               rtol=1e-12)
    low = rs.random((2, 4, 5))  # a coarse map over the view: each cell averages what it covers
    np.testing.assert_allclose(regions.to_grid(low, 8, 10),
                               np.repeat(np.repeat(low, 2, 1), 2, 2), rtol=1e-12)
    g = rs.random((2, 32, 32))
    assert regions.to_grid(g, 224, 224) is g


def test_a_bad_value_in_a_coarse_map_stays_in_its_cells():
    """A NaN or inf (an overflowing AMP step) counts as 0 where it is, as quantize counts
    it, instead of spreading over the whole map through the averaging."""
    rs = np.random.default_rng(3)
    clean = rs.random((1, 7, 7))
    for bad in (np.nan, np.inf, -np.inf):
        m = clean.copy()
        m[0, 3, 3] = bad
        zeroed = clean.copy()
        zeroed[0, 3, 3] = 0
        np.testing.assert_array_equal(regions.to_grid(m, 24, 24),
                                      regions.to_grid(zeroed, 24, 24))
        assert regions.quantize(regions.to_grid(m, 24, 24)).max() == 255


def test_quantize_keeps_the_order_of_each_map_and_its_maximum_at_255():
    m = np.array([[[0.0, 0.5], [1.0, np.nan]], [[0.0, 0.0], [0.0, 0.0]],
                  [[-1.0, 2.0], [4.0, 1.0]]], np.float32)
    q = regions.quantize(m)
    np.testing.assert_array_equal(q[0], [[0, 128], [255, 0]])
    np.testing.assert_array_equal(q[1], 0)
    np.testing.assert_array_equal(q[2], [[0, 128], [255, 64]])


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.6, 1.0])
@pytest.mark.parametrize("hw", [(20, 17), (56, 64), (45, 70)])
def test_threshold_is_the_tau_quantile_of_all_pixel_candidates(tau, hw):
    """Brute force over every pixel (np.quantile of the expanded scores), for one cell per
    pixel, equal cells and unequal ones."""
    rs = np.random.default_rng(1)
    maps = rs.random((3, *hw))
    for size in ([5, 9], [1, 1], [hw[0], 3]):
        s, area = cell_scores(maps, size)
        brute = brute_pixel_scores(maps, size, *hw)
        np.testing.assert_array_equal(regions.threshold(s, area, tau),
                                      [np.quantile(b, tau) for b in brute])
        for above in (False, True):
            got = to_pixels(regions.eligible(s, area, tau, above=above), *hw)
            for g, b in zip(got, brute):
                np.testing.assert_array_equal(g, brute_allowed(b, tau, above))


def test_a_sparse_map_allows_only_the_regions_on_the_right_side():
    m = np.zeros((1, 30, 30))
    m[0, 5:9, 20:24] = 1.0  # most candidates score 0
    s, area = cell_scores(m, [6, 6])
    paste = regions.eligible(s, area, 0.8, above=True)
    cut = regions.eligible(s, area, 0.6, above=False)
    assert (s[paste] > 0).all() and paste.any()
    assert (s[cut] == 0).all() and cut.sum() == (s == 0).sum()


def test_a_flat_map_still_allows_candidates():
    s, area = cell_scores(np.zeros((1, 8, 8)), [3, 3])
    assert regions.eligible(s, area, 0.6, above=False).all()
    assert regions.eligible(s, area, 0.6, above=True).all()


@pytest.mark.parametrize("hw", [(8, 5), (45, 70)])
def test_pick_draws_allowed_cells_in_proportion_to_their_pixels(hw):
    """Cells of unequal sizes too: each allowed pixel, not each cell, weighs the same; the
    region is centred on the cell's centre pixel (the candidate that was scored)."""
    rs = np.random.default_rng(2)
    ey, ex = regions.edges(hw[0]), regions.edges(hw[1])
    gh, gw = len(ey) - 1, len(ex) - 1
    allowed = rs.random((2, gh, gw)) < 0.3
    u = rs.random((2, 40000))
    cy, cx = regions.pick(allowed, *hw, u)
    centres = (ey[:-1] + ey[1:] - 1) // 2, (ex[:-1] + ex[1:] - 1) // 2
    i, j = np.searchsorted(centres[0], cy), np.searchsorted(centres[1], cx)
    assert (centres[0][i] == cy).all() and (centres[1][j] == cx).all()
    area = regions.areas(*hw)
    for b in range(2):
        assert allowed[b, i[b], j[b]].all()
        counts = np.bincount(i[b] * gw + j[b], minlength=gh * gw)[allowed[b].ravel()]
        expected = area[allowed[b]] / area[allowed[b]].sum() * u.shape[1]
        assert stats.chisquare(counts, expected).pvalue > 1e-3


def hot_maps(n, hw, spot):
    maps = [np.full(hw, 0.01, np.float32) for _ in range(n)]
    for m in maps:
        m[spot] = 1.0
    return maps


def test_the_salient_spot_is_never_cut_and_plain_cutout_does_cut_it():
    n, hw, spot = 400, (48, 40), np.s_[20:30, 10:18]
    maps = hot_maps(n, hw, spot)
    with SaliencyBank(1) as bank:
        for tau, expect_hit in ((0.6, False), (1.0, True)):
            op = operator("keep_cutout", bank=bank, size=12, tau=tau, seed=3)
            p = op.draw(np.tile(hw, (n, 1)), view=view(maps))
            hit = rects.last_box(p, *hw)[:, spot[0], spot[1]] >= 0
            assert hit.any() == expect_hit, f"tau={tau}"


def test_samples_without_a_map_are_cut_exactly_as_cutout_cuts_them():
    n, hw = 64, (32, 32)
    maps = hot_maps(n, hw, np.s_[0:16, 0:16])
    present = np.arange(n) % 2 == 0
    with SaliencyBank(1) as bank:
        keep = operator("keep_cutout", bank=bank, size=10, count=2, prob=0.7, seed=5)
        p = keep.draw(np.tile(hw, (n, 1)), view=view(maps, present))
    plain = Cutout(size=10, count=2, prob=0.7, seed=5).draw(np.tile(hw, (n, 1)))
    np.testing.assert_array_equal(p[~present], plain[~present])
    assert (p["count"] == plain["count"]).all()  # the coin is Cutout's for every sample
    assert not np.array_equal(p["boxes"][present], plain["boxes"][present])


def test_before_start_epoch_no_map_is_read():
    with SaliencyBank(4) as bank:
        bank.update(np.arange(4), np.ones((4, 8, 8), np.float32), np.tile([0, 0, 1, 1.], (4, 1)),
                    np.zeros(4))
        op = operator("keep_cutout", bank=bank, size=4, start_epoch=2)
        inputs = {"crops": np.tile([0, 0, 1, 1.], (4, 1)), "flips": np.zeros(4)}
        hw, ids = np.full((4, 2), 16), np.arange(4)
        assert not op.placement.view(inputs, hw, 1, ids).present.any()
        assert op.placement.view(inputs, hw, 2, ids).present.all()


def test_arguments_are_checked_when_the_operator_is_built():
    with SaliencyBank(4) as bank:
        with pytest.raises(ValueError, match="tau"):
            operator("keep_cutout", bank=bank, size=8, tau=1.5)
        with pytest.raises(ValueError, match="start_epoch"):
            operator("keep_cutout", bank=bank, size=8, start_epoch=-1)
    with pytest.raises(TypeError, match="SaliencyBank"):
        operator("keep_cutout", bank=np.zeros((4, 16, 16)), size=8)


@pytest.fixture
def hot_bank():
    """A bank with a hot spot in the upper right of every sample image."""
    files, bank = spot_bank()
    with bank:
        yield files, bank


@pytest.mark.parametrize("backend", [None, "emulator"])
def test_in_a_training_pipeline_cuts_avoid_the_spot(hot_bank, backend):
    files, bank = hot_bank
    # crops of most of the image, so that the spot leaves most candidates free
    pipe = train_pipeline(files, batch_size=4, size=48, device="cpu", layout="HWC", seed=2,
                          area=(0.8, 1.0), bank=bank,
                          augment=[("keep_cutout", {"size": 12, "tau": 0.5, "fill": 0.0,
                                                    "backend": backend})])
    for _ in range(4):
        images, _, ids, crop, flip, _ = (o.as_array() for o in pipe.run())
        maps, present = bank.read(ids.ravel(), crop, flip, (48, 48))
        assert present.all()
        cut = (images == 0).all(-1)
        assert cut.any(1).any(1).all()
        assert (maps[cut] < 0.5).all(), "a cut reached the salient spot"


def test_dali_keep_cutout_outputs_params_that_replay(hot_bank):
    from nvidia.dali import fn as dfn
    from nvidia.dali import pipeline_def, types

    files, bank = hot_bank

    @pipeline_def(batch_size=4, num_threads=1, device_id=None, seed=3)
    def pipe():
        jpegs, labels = dfn.readers.file(files=files, labels=list(range(len(files))))
        img = dfn.resize(dfn.decoders.image(jpegs, output_type=types.RGB), size=[40, 40])
        ids = dfn.cast(labels, dtype=types.INT64)
        crops = dfn.constant(fdata=[0.0, 0.0, 1.0, 1.0], shape=[4], device="cpu")
        flips = dfn.cast(dfn.random.coin_flip(), dtype=types.INT32)
        out, p = fn.keep_cutout(img, sample_ids=ids, crops=crops, flips=flips, bank=bank, size=16, tau=0.5,
                                fill="random", return_params=True, name="keep")
        return img, out, p, ids, flips

    p = pipe()
    p.build()
    op = registry.ops(p)["keep"]
    img, out, raw, ids, flips = p.run()
    recs = fn.decode_params(op, raw)
    expected = op.apply([np.array(x) for x in img], recs)
    assert_match("keep_cutout_replay", expected, [np.array(x) for x in out], recs)
    maps, _ = bank.read(ids.as_array().ravel(), np.tile([0, 0, 1, 1.], (4, 1)),
                        flips.as_array(), (40, 40))
    hit = rects.last_box(recs, 40, 40) >= 0
    assert (maps[hit] < 0.5).all()


def test_the_dali_operator_needs_ids_and_cpu_views(hot_bank):
    from nvidia.dali import fn as dfn
    from nvidia.dali import pipeline_def, types

    files, bank = hot_bank

    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe(with_ids):
        img = dfn.random.uniform(shape=[8, 8, 3])
        ids = dfn.cast(dfn.random.uniform(range=[0, 3]), dtype=types.INT64) if with_ids else None
        crops = dfn.constant(fdata=[0.0, 0.0, 1.0, 1.0], shape=[4])
        return fn.keep_cutout(img, sample_ids=ids, crops=crops, flips="flip", bank=bank, size=4,
                              layout="HWC")

    with pytest.raises(TypeError, match="keep_cutout needs sample_ids"):
        pipe(False)
    with pytest.raises(TypeError, match="flips must be a CPU DataNode"):
        pipe(True)


def test_a_bank_smaller_than_the_dataset_is_refused_when_the_pipeline_is_built():
    files = sample_images()
    with SaliencyBank(len(files) - 1) as bank:
        with pytest.raises(ValueError, match=f"bank holds {len(files) - 1} maps"):
            train_pipeline(files, batch_size=2, size=32, device="cpu", bank=bank,
                           augment="keep_cutout(size=8)")
    with pytest.raises(ValueError, match="give the pipeline a bank"):
        train_pipeline(files, batch_size=2, size=32, device="cpu", augment="keep_cutout(size=8)")
