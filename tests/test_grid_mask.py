"""GridMask properties from the paper: keep ratio (Eq. 3), reverse, random units, rotation
coverage, apply probability and its epoch schedule."""

import numpy as np
import pytest

from dali_regaug import schedule
from dali_regaug.ops.grid_mask import GridMask


def dropped(op, h, w, n, prob=1.0, seed_shift=0):
    """(n, H, W) bool masks on constant images (the CPU kernels)."""
    images = [np.ones((h, w, 1), np.float32)] * n
    params = op.sample(np.array([(h, w)] * n), np.arange(n, dtype=np.uint64) + seed_shift, prob)
    return np.stack(op.apply(images, params))[..., 0] == 0, params


@pytest.mark.parametrize("r,d", [(0.6, 32), (0.5, 20), (0.3, 10), (0.75, 64), (0.1, 50)])
def test_keep_ratio_on_whole_units_follows_eq3(r, d):
    op = GridMask(r=r, d=d, fill=0.0)
    side = d * 4  # whole units whatever the offset: the grid is periodic
    mask, _ = dropped(op, side, side, 16)
    keep = 1 - mask.mean()
    exact = 1 - ((d - np.ceil(round(r * d, 9))) / d) ** 2  # dropped squares of side d - ceil(rd)
    assert keep == pytest.approx(exact, abs=1e-12)
    assert keep == pytest.approx(1 - (1 - r) ** 2, abs=2 / d)


def test_dropped_square_side_is_d_minus_ceil_rd():
    op = GridMask(r=0.6, d=50, fill=0.0)
    mask, p = dropped(op, 200, 200, 1)
    row = mask[0][p["off_y"][0]]  # a row through the squares
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
    assert set(runs[1:-1]) == {50 - 30}


def test_reverse_gives_the_complement():
    a, _ = dropped(GridMask(r=0.4, d=(10, 30), rotate=30), 64, 80, 8)
    b, _ = dropped(GridMask(r=0.4, d=(10, 30), rotate=30, reverse=True), 64, 80, 8)
    assert (a != b).all()


@pytest.mark.parametrize("unit_prob", [0.2, 0.5, 0.8])
def test_unit_prob_drops_the_expected_fraction_of_units(unit_prob):
    op = GridMask(r=0.5, d=16, unit_prob=unit_prob)
    mask, p = dropped(op, 256, 256, 8)
    full, _ = dropped(GridMask(r=0.5, d=16), 256, 256, 8)
    # Count units at their square's top-left pixel (positions where the full grid drops).
    corners = full & ~np.roll(full, 1, axis=1) & ~np.roll(full, 1, axis=2)
    frac = mask[corners].mean()
    n = corners.sum()
    assert abs(frac - unit_prob) < 4 * np.sqrt(unit_prob * (1 - unit_prob) / n)


def test_rotation_leaves_no_unmasked_corners():
    op = GridMask(r=0.5, d=24, rotate=90)
    mask, p = dropped(op, 192, 192, 32)
    assert (p["rotated"] == 1).all()
    q = 48  # each corner quadrant drops like the whole image
    for sl in [(slice(0, q), slice(0, q)), (slice(0, q), slice(-q, None)),
               (slice(-q, None), slice(0, q)), (slice(-q, None), slice(-q, None))]:
        assert mask[:, sl[0], sl[1]].mean() == pytest.approx(mask.mean(), abs=0.03)


def test_prob_zero_is_identity_and_prob_is_a_chance_per_sample():
    op = GridMask(d=8, prob=0.0)
    mask, _ = dropped(op, 32, 32, 4, prob=0.0)
    assert not mask.any()
    mask, p = dropped(GridMask(d=8), 32, 32, 2000, prob=0.3)
    assert p["apply"].mean() == pytest.approx(0.3, abs=0.035)
    assert (mask.any(axis=(1, 2)) == (p["apply"] == 1)).all()


def test_linear_schedule_ramps_the_probability_with_the_epoch():
    op = GridMask(d=8, prob=schedule.Linear(0.8, epochs=10))
    rates = []
    for epoch in (0, 5, 10, 20):
        op.set_epoch(epoch)
        rates.append(op.draw(np.array([(32, 32)] * 4000))["apply"].mean())
    assert rates[0] == 0
    assert rates[1] == pytest.approx(0.4, abs=0.03)
    assert rates[2] == pytest.approx(0.8, abs=0.03) and rates[3] == pytest.approx(0.8, abs=0.03)


def test_d_and_offsets_are_drawn_in_their_ranges():
    p = GridMask(d=(96, 224)).draw(np.array([(224, 224)] * 5000))
    assert p["d"].min() == 96 and p["d"].max() == 224
    assert (p["off_x"] < p["d"]).all() and (p["off_y"] >= 0).all()
    counts = np.bincount(p["d"] - 96, minlength=129)
    assert counts.min() > 10  # every unit size occurs
