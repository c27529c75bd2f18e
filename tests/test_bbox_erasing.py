"""Box-aware operators: Random Erasing for detection (where the holes go, what survives
them: visibility on the union of holes, shrinking; bad boxes; masks; the DALI operator
replaying from its parameters) and CutMix's detection mode."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nvidia.dali import fn, pipeline_def
from scipy import stats

from conftest import assert_match
from dali_regaug import fn as rfn
from dali_regaug import registry
from dali_regaug.ops import composite
from dali_regaug.ops.bbox_erasing import BboxErasing
from dali_regaug.ops.boxes import pixel_boxes, visibility
from dali_regaug.ops.cutmix_detection import CutMixDetection
from dali_regaug.ops.erasing import RandomErasing

SETTINGS = settings(max_examples=40, deadline=None)
Q = 4  # oracle resolution: box edges on quarter pixels, rasterized at 4x


def rasterize(rects, h, w, scale=1):
    """Boolean (h*scale, w*scale) union of (y0, x0, y1, x1) rectangles in pixel units."""
    m = np.zeros((h * scale, w * scale), bool)
    for y0, x0, y1, x1 in np.rint(np.asarray(rects, float).reshape(-1, 4) * scale).astype(int):
        m[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
    return m


def ltrb(boxes_px, h, w):
    """Pixel (y0, x0, y1, x1) -> ltrb fractions, as DALI's detection ops carry them."""
    b = np.asarray(boxes_px, np.float64).reshape(-1, 4)
    return (b[:, [1, 0, 3, 2]] / [w, h, w, h]).astype(np.float32)


def records(op, holes):
    p = np.zeros(len(holes), op.params_dtype)
    for i, hs in enumerate(holes):
        p["boxes"][i, :len(hs)] = hs
        p["count"][i] = len(hs)
    return p


hole = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(1, 20), st.integers(1, 20))
quarter_box = st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(1, 60),
                        st.integers(1, 60))


@SETTINGS
@given(holes=st.lists(hole, min_size=0, max_size=6), boxes=st.lists(quarter_box, min_size=1,
                                                                      max_size=5))
def test_visibility_counts_the_union_of_holes_and_shrinks_to_the_visible_extent(holes, boxes):
    """Against a rasterized oracle: overlapping holes count once, and the shrunk box is the
    bounding box of the visible pixels (edges on quarter pixels, rasterized at 4x)."""
    h = w = 40
    hs = np.array([(y, x, y + dy, x + dx) for y, x, dy, dx in holes], np.int32).reshape(-1, 4)
    bx = np.array([(y, x, y + dy, x + dx) for y, x, dy, dx in boxes], float) / Q
    bx = np.clip(bx, 0, w)
    covered = rasterize(hs, h, w, Q)
    vis, extent = visibility(hs[None], np.array([len(hs)]), bx[None], np.array([[h, w]]))
    for k, b in enumerate(bx):
        inside = rasterize(b, h, w, Q)
        area = inside.sum()
        if area == 0:
            assert vis[0, k] == 0
            continue
        seen = inside & ~covered
        assert vis[0, k] == pytest.approx(seen.sum() / area, abs=1e-12)
        if seen.any():
            ys, xs = np.nonzero(seen)
            want = np.array([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]) / Q
            np.testing.assert_allclose(extent[0, k], want, atol=1e-12)


@SETTINGS
@given(data=st.data(), sizes=st.lists(st.tuples(st.integers(8, 40), st.integers(8, 40)),
                                      min_size=1, max_size=3),
       many=st.booleans())
def test_visibility_of_a_ragged_batch_matches_each_image_alone_and_the_raster(data, sizes, many):
    """Images of different sizes in one call, with few holes (grid on the holes' edges) or
    more holes than pixel rows (grid on the pixels): each image's result is the rasterized
    oracle's, whatever else is in the batch."""
    n, r = len(sizes), 40 if many else 4
    holes = np.zeros((n, r, 4), np.int32)
    counts = np.array([data.draw(st.integers(0, r)) for _ in sizes])
    boxes = np.zeros((n, 6, 4))
    for i, (h, w) in enumerate(sizes):
        for j in range(counts[i]):
            y0, x0 = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
            holes[i, j] = (y0, x0, data.draw(st.integers(y0, h)), data.draw(st.integers(x0, w)))
        q = np.array([[data.draw(st.integers(0, Q * m)) for m in (h, w, h, w)] for _ in range(6)])
        boxes[i] = np.concatenate([np.minimum(q[:, :2], q[:, 2:]),
                                   np.maximum(q[:, :2], q[:, 2:])], 1) / Q
    vis, extent = visibility(holes, counts, boxes, np.array(sizes))
    for i, (h, w) in enumerate(sizes):
        covered = rasterize(holes[i, :counts[i]], h, w, Q)
        for k, b in enumerate(boxes[i]):
            inside = rasterize(b, h, w, Q)
            seen = inside & ~covered
            assert vis[i, k] == pytest.approx(seen.sum() / max(inside.sum(), 1), abs=1e-9)
            if seen.any():
                ys, xs = np.nonzero(seen)
                want = np.array([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]) / Q
                np.testing.assert_allclose(extent[i, k], want, atol=1e-9)


def test_visibility_of_a_crowd_costs_boxes_times_holes_not_their_cube():
    """1000 boxes, each with its hole, on a 640x640 image: the grid is the image's pixels
    (641 lines per axis), so memory stays near a few grid copies (the old cell-by-box
    product took 9 s and grew with boxes x cells)."""
    import tracemalloc

    from benchmarks.crowd import crowd_boxes

    op = BboxErasing(mode="image+object", prob=1.0, object_prob=1.0, max_boxes=1000, fill=0.0,
                     seed=0)
    tracemalloc.start()
    _, side = op.sample_named({"shapes": [(640, 640, 3)], "boxes": [crowd_boxes(1000)],
                               "labels": [np.arange(1000, dtype=np.int32)]})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20
    assert 0 < len(side["labels"][0]) <= 1000 and len(side["boxes"][0]) == len(side["labels"][0])


def test_a_fully_covered_box_is_removed_and_a_half_covered_one_kept_at_0_3():
    op = BboxErasing(min_visibility=0.3, seed=0)
    boxes = np.array([[[10, 10, 20, 20], [30, 30, 40, 50]]], float)
    # the first box under two overlapping holes that cover it together; half of the second
    p = records(op, [[(8, 8, 20, 16), (10, 14, 22, 22), (30, 30, 40, 40)]])
    keep, _ = op.boxes_after(p, np.array([[64, 64]]), boxes)
    assert keep.tolist() == [[False, True]]
    keep, _ = BboxErasing(min_visibility=0.6, seed=0).boxes_after(p, np.array([[64, 64]]), boxes)
    assert keep.tolist() == [[False, False]]
    keep, _ = BboxErasing(min_visibility=0.0, seed=0).boxes_after(p, np.array([[64, 64]]), boxes)
    assert keep.tolist() == [[False, True]]  # nothing visible: removed at any threshold


@SETTINGS
@given(seed=st.integers(0, 2**32), boxes=st.lists(quarter_box, min_size=0, max_size=6),
       hw=st.tuples(st.integers(8, 64), st.integers(8, 64)))
def test_object_aware_regions_lie_inside_their_boxes(seed, boxes, hw):
    """ORE: every region is inside the whole pixels of its own box, and the erased pixels of
    the image lie inside the union of the boxes."""
    h, w = hw
    op = BboxErasing(mode="object", object_prob=1.0, fill=-7.0, area=(0.1, 0.6), seed=seed)
    bx = np.clip(np.array([(y, x, y + dy, x + dx) for y, x, dy, dx in boxes], float).reshape(-1, 4)
                 / Q, 0, [h, w, h, w])
    px = pixel_boxes([ltrb(bx, h, w)], np.array([[h, w]]))[0]
    p = op.draw(np.array([[h, w]]), inputs={"pixel_boxes": px})
    assert (p["boxes"][0, 0] == 0).all()  # no image-level region in this mode
    for j, b in enumerate(px[0]):
        y0, x0, y1, x1 = p["boxes"][0, 1 + j]
        if y1 > y0 and x1 > x0:
            assert y0 >= np.ceil(b[0]) and x0 >= np.ceil(b[1])
            assert y1 <= np.floor(b[2]) and x1 <= np.floor(b[3])
    image = np.zeros((h, w, 1), np.float32)
    erased = op.apply([image], p)[0][..., 0] == -7.0
    assert not (erased & ~rasterize(bx, h, w)).any()


def test_image_aware_regions_follow_random_erasings_distribution():
    """IRE: area and aspect of the image-level region are Random Erasing's (two-sample KS)."""
    hw = np.full((6000, 2), 64)
    ire = BboxErasing(mode="image", prob=1.0, seed=1).draw(hw)["boxes"][:, 0]
    ref = RandomErasing(prob=1.0, seed=2).draw(hw)["boxes"][:, 0]

    def area_aspect(b):
        b = b[(b[:, 2] > b[:, 0])]
        hh, ww = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        return hh * ww / 64**2, np.log(hh / ww), b[:, 0]

    for x, y in zip(area_aspect(ire), area_aspect(ref)):
        assert stats.ks_2samp(x, y).pvalue > 1e-3


def test_object_regions_have_the_area_range_relative_to_the_box():
    op = BboxErasing(mode="object", object_prob=1.0, area=(0.1, 0.2), aspect=(1, 1), seed=3)
    px = np.tile([[[0.0, 0.0, 40.0, 40.0]]], (2000, 1, 1))
    b = op.draw(np.full((2000, 2), 200), inputs={"pixel_boxes": px})["boxes"][:, 1]
    placed = b[:, 2] > b[:, 0]
    frac = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[placed] / 1600
    assert placed.mean() > 0.99
    assert frac.min() >= 0.09 and frac.max() <= 0.21
    assert frac.mean() == pytest.approx(0.15, abs=0.01)


def test_bad_boxes_are_dropped_and_counted():
    boxes = [np.array([[0.1, 0.1, 0.5, 0.5],  # fine
                       [0.3, 0.3, 0.3, 0.6],  # zero width
                       [0.6, 0.2, 0.4, 0.5],  # negative width
                       [1.2, 0.2, 1.5, 0.5],  # outside: empty once clipped
                       [np.nan, 0.1, 0.2, 0.3],
                       [-0.5, -0.5, 0.25, 1.5]], np.float32),  # clipped to the image
             np.zeros((0, 4), np.float32)]
    px, invalid = pixel_boxes(boxes, np.array([[100, 200], [100, 200]]))
    assert invalid == 4
    np.testing.assert_allclose(px[0, 0], [10, 20, 50, 100])
    np.testing.assert_allclose(px[0, 5], [0, 0, 100, 50])
    assert np.isnan(px[0, 1:5]).all() and np.isnan(px[1]).all()


def test_bad_boxes_in_a_pipeline_are_dropped_not_fatal():
    """Empty lists, zero and negative sizes, boxes outside the image and NaN coordinates:
    the pipeline runs, those boxes leave with their labels and are counted."""
    rs = np.random.default_rng(5)
    images = [rs.normal(size=(32, 32, 3)).astype(np.float32) for _ in range(3)]
    boxes = [np.zeros((0, 4), np.float32),
             np.array([[0.2, 0.2, 0.2, 0.5], [0.6, 0.1, 0.3, 0.4], [1.1, 1.1, 1.4, 1.3],
                       [np.nan, 0, 1, 1], [0.1, 0.1, 0.6, 0.6]], np.float32),
             np.array([[-1, -1, 2, 2]], np.float32)]
    labels = [np.zeros(0, np.int32), np.arange(5, dtype=np.int32), np.array([7], np.int32)]
    for build in (lambda x, b, lab: rfn.bbox_erasing(x, b, lab, prob=1.0, name="op"),
                  lambda x, b, lab: rfn.cutmix_detection(x, b, lab, name="op")):
        # not run ahead, so that the count is this batch's alone
        pipe = _pipeline((images, boxes, labels), build, exec_pipelined=False,
                         exec_async=False)
        *_, kept, kept_labels = pipe.run()
        assert registry.ops(pipe)["op"].invalid_boxes == 4
        assert all(np.isfinite(np.asarray(kept.at(i))).all() for i in range(3))
        assert set(np.asarray(kept_labels.at(1)).tolist()) <= {4, 7}


def _pipeline(batch, build, **kw):
    """A CPU pipeline over a fixed (images, boxes, labels) batch, fed again every run."""
    images, boxes, labels = batch

    @pipeline_def(batch_size=len(images), num_threads=2, device_id=None, seed=11)
    def pipe():
        x = fn.external_source(source=lambda: images, layout="HWC")
        b = fn.external_source(source=lambda: boxes)
        lab = fn.external_source(source=lambda: labels)
        return (x, b, lab, *build(x, b, lab))

    p = pipe(**kw)
    p.build()
    return p


def _batch(rs, n=6, h=48, w=64):
    images = [rs.normal(size=(h, w, 3)).astype(np.float32) for _ in range(n)]
    boxes, labels = [], []
    for i in range(n):
        k = i % 4  # 0 to 3 boxes, one image without any
        y0, x0 = rs.uniform(0, 0.6, (2, k))
        b = np.stack([x0, y0, x0 + rs.uniform(0.1, 0.4, k), y0 + rs.uniform(0.1, 0.4, k)], 1)
        boxes.append(b.astype(np.float32).reshape(k, 4))
        labels.append(np.arange(k, dtype=np.int32) + 10 * i)
    return images, boxes, labels


@pytest.mark.parametrize("backend", [None, "emulator"])
def test_dali_operator_replays_from_its_parameters(backend):
    """Pixels and boxes from the pipeline equal the NumPy reference recomputed from the
    parameters it output; the kernel (emulator) gives the same pixels."""
    rs = np.random.default_rng(0)
    pipe = _pipeline(_batch(rs), lambda x, b, lab: rfn.bbox_erasing(
        x, b, lab, prob=0.8, object_prob=0.8, min_visibility=0.4, shrink=True, fill=0.5,
        return_params=True, backend=backend, name="bbox"))
    op = registry.ops(pipe)["bbox"]
    for _ in range(3):
        x, b, lab, out, kept, kept_labels, params = pipe.run()
        recs = rfn.decode_params(op, params)
        images = [np.asarray(x.at(i)) for i in range(len(x))]
        hw = np.array([i.shape[:2] for i in images])
        assert_match("bbox_erasing", op.apply(images, recs),
                     [np.asarray(out.at(i)) for i in range(len(out))], recs)
        boxes = [np.asarray(b.at(i)) for i in range(len(b))]
        ref = BboxErasing(min_visibility=0.4, shrink=True, seed=0)
        keep, shrunk = ref.boxes_after(recs, hw, pixel_boxes(boxes, hw)[0])
        for i in range(len(x)):
            want = ltrb(shrunk[i][keep[i]], *hw[i])
            np.testing.assert_allclose(np.asarray(kept.at(i)).reshape(-1, 4), want, atol=1e-6)
            assert np.array_equal(np.asarray(kept_labels.at(i)),
                                  np.asarray(lab.at(i))[keep[i][:len(boxes[i])]])


def test_masks_get_the_ignore_label_exactly_where_the_image_is_erased():
    rs = np.random.default_rng(1)
    images, boxes, labels = _batch(rs)
    masks = [np.full(i.shape[:2] + (1,), 3, np.uint8) for i in images]

    @pipeline_def(batch_size=len(images), num_threads=2, device_id=None, seed=5)
    def pipe():
        x = fn.external_source(source=lambda: images, layout="HWC")
        m = fn.external_source(source=lambda: masks, layout="HWC")
        b = fn.external_source(source=lambda: boxes)
        lab = fn.external_source(source=lambda: labels)
        out, _, _, m2 = rfn.bbox_erasing(x, b, lab, masks=m, mask_fill=255, prob=1.0,
                                         object_prob=1.0, fill=9.0)
        return out, m2

    p = pipe()
    p.build()
    out, m2 = p.run()
    for i in range(len(images)):
        erased = np.asarray(out.at(i))[..., 0] == 9.0
        assert np.array_equal(np.asarray(m2.at(i))[..., 0] == 255, erased)
        assert erased.any()


def test_bad_arguments_name_themselves():
    for kwargs, message in [({"mode": "box"}, "mode='box'"),
                            ({"object_prob": 1.5}, "object_prob=1.5"),
                            ({"min_visibility": -0.1}, "min_visibility=-0.1"),
                            ({"shrink": 1}, "shrink=1")]:
        with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(")):
            BboxErasing(**kwargs)
    with pytest.raises(ValueError, match="mask_fill=300"):
        _pipeline(_batch(np.random.default_rng(0)), lambda x, b, lab: rfn.bbox_erasing(
            x, b, lab, masks=x, mask_fill=300))


def test_cutmix_detection_box_rules():
    """Base boxes are kept whole or dropped by visibility outside the region; partner boxes
    are clipped to the region and kept by the share of them inside it."""
    op = CutMixDetection(min_visibility=0.3, seed=0)
    p = composite.params(np.array([[[0, 0, 20, 20]]]), [1], 0.0, 1.0)
    # under the region (0, 0, 20, 20): all of it, a quarter, 80%
    base = np.array([[[0, 0, 10, 10], [10, 10, 30, 30], [12, 0, 22, 10]]], float)
    # inside it: all, half, 1%, nothing
    partner = np.array([[[5, 5, 15, 15], [10, 0, 30, 10], [18, 18, 40, 40],
                         [30, 30, 40, 40]]], float)
    keep, pasted, clipped = op.boxes_after(p, np.array([[64, 64]]), base, partner)
    assert keep.tolist() == [[False, True, False]]
    assert pasted.tolist() == [[True, True, False, False]]
    np.testing.assert_allclose(clipped[0, :2], [[5, 5, 15, 15], [10, 0, 20, 10]])


def test_cutmix_detection_in_dali_pastes_partner_boxes_inside_the_region():
    rs = np.random.default_rng(2)
    images, boxes, labels = _batch(rs, n=8)
    pipe = _pipeline((images, boxes, labels), lambda x, b, lab: rfn.cutmix_detection(
        x, b, lab, alpha=1.0, min_visibility=0.2, return_params=True, name="cm"))
    op = registry.ops(pipe)["cm"]
    pasted = 0
    for _ in range(3):
        x, b, lab, out, kept, kept_labels, params = pipe.run()
        recs = rfn.decode_params(op, params)
        for i in range(len(x)):
            h, w = images[i].shape[:2]
            y0, x0, y1, x1 = recs["boxes"][i, 0] if recs["count"][i] else (0, 0, 0, 0)
            region = np.array([x0 / w, y0 / h, x1 / w, y1 / h])
            own = np.asarray(kept_labels.at(i)) // 10 == i  # labels are 10 * image + object
            got = np.asarray(kept.at(i)).reshape(-1, 4)
            assert all(any(np.allclose(g, o, atol=1e-6) for o in boxes[i]) for g in got[own])
            theirs = got[~own]
            assert (theirs[:, :2] >= region[:2] - 1e-6).all()
            assert (theirs[:, 2:] <= region[2:] + 1e-6).all()
            pasted += len(theirs)
    assert pasted > 3


def test_a_box_no_hole_touches_is_exactly_fully_visible():
    """Between two holes, far from both: visible is exactly 1.0, so min_visibility=1 keeps
    it (summed-area arithmetic alone gave 0.99999999999999...)."""
    holes = np.array([[[100, 100, 200, 200], [300, 50, 400, 460]]], np.int32)
    boxes = np.array([[[210.3, 120.7, 290.1, 455.9], [150.5, 150.5, 250.5, 250.5]]])
    vis, _ = visibility(holes, np.array([2]), boxes, np.array([[480, 640]]))
    assert vis[0, 0] == 1.0 and 0 < vis[0, 1] < 1
    rs = np.random.default_rng(0)
    lo = rs.uniform(0, 400, (1, 500, 2))
    boxes = np.concatenate([lo, lo + rs.uniform(0.5, 80, (1, 500, 2))], -1)
    holes = np.array([[[0, 0, 3, 3]]], np.int32)
    vis, _ = visibility(holes, np.array([1]), boxes, np.array([[480, 640]]))
    clear = (boxes[0, :, 0] >= 3) | (boxes[0, :, 1] >= 3)
    assert (vis[0, clear] == 1.0).all()
