"""Fault campaign (issue 15), the operators' arguments and inputs: specs round-trip, fills
the data cannot hold, images without pixels, layouts and masks that do not fit are refused
by name; costs follow what is erased."""

import numpy as np
import pytest


# -- specs -----------------------------------------------------------------------------------

def _spec_args():
    """Each operator and the arguments a spec may give it, from the declarations."""
    from dali_regaug import spec
    from dali_regaug.ops import catalog

    return {name: [a for a in (*d.all_args, *spec.SPEC_COMMON) if a.spec]
            for name, d in catalog.operators().items()}


def _values(arg):
    """Valid values of ``arg`` (a declaration's Arg): drawn from its kind and range."""
    from hypothesis import strategies as st

    from dali_regaug import schedule

    lo = -1e3 if arg.low is None else arg.low
    hi = 1e6 if arg.high is None else min(arg.high, 1e6)
    integer = arg.kind in ("int", "int_interval", "optional_int")
    nums = st.integers(int(lo), int(hi)) if integer else st.floats(lo, hi, allow_nan=False)
    pair = st.tuples(nums, nums).map(lambda t: tuple(sorted(t)))
    words = [c for c in arg.choices if c is not None]
    return {"float": nums, "int": nums, "optional_int": nums, "interval": st.one_of(nums, pair),
            "int_interval": st.one_of(nums, pair), "bool": st.booleans(),
            "choice": st.sampled_from(words or [None]),
            "fill": st.one_of(st.floats(-1e3, 1e3), st.sampled_from(["random", "region"]),
                              st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=4).map(tuple)),
            "prob": st.one_of(st.floats(0, 1), st.builds(schedule.Linear, st.floats(0, 1),
                                                         st.integers(1, 500), st.floats(0, 1))),
            }[arg.kind].filter(lambda v: _valid(arg, v))


def _valid(arg, value):
    """Whether ``value`` passes ``arg``'s checks beyond its range (area's maximum > 0)."""
    try:
        arg.validate(value)
    except ValueError:
        return False
    return True


def test_describe_round_trips_through_parse_for_every_operator_and_argument():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dali_regaug import spec
    from dali_regaug.ops import catalog

    table = _spec_args()

    @st.composite
    def configs(draw):
        ops = []
        for name in draw(st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=3)):
            args = draw(st.lists(st.sampled_from(table[name]), unique_by=lambda a: a.name,
                                 max_size=6))
            ops.append((name, {a.name: draw(_values(a)) for a in args}))
        mixing = [i for i, (n, _) in enumerate(ops) if catalog.get(n).mixes]
        return [op for i, op in enumerate(ops) if i not in mixing[1:]]

    @settings(max_examples=300, deadline=None)
    @given(configs())
    def check(cfg):
        text = spec.describe(cfg)
        assert spec.parse(text) == spec.parse(cfg), text

    check()


def test_every_operator_argument_is_covered_by_the_round_trip():
    """All arguments of every operator reach the round-trip test (none is filtered), and
    every kind of argument has values to draw."""
    from dali_regaug.ops import catalog

    table = _spec_args()
    assert set(table) == set(catalog.operators())
    for name, args in table.items():
        decl = catalog.get(name)
        assert {a.name for a in args} >= {a.name for a in decl.all_args if a.kind != "object"}
        for a in args:
            _values(a)
    assert "fill" in {a.name for a in table["grid_mask"]}
    assert "tau" in {a.name for a in table["keep_paste"]}


@pytest.mark.parametrize("text", ["gridmask(p=0.5,p=0.7)", "gridmask(p=0.5,prob=0.7)",
                                  "cutout(size=4,size=8)"])
def test_a_repeated_argument_is_an_error(text):
    from dali_regaug import spec

    with pytest.raises(ValueError, match="twice"):
        spec.parse(text)


# -- the saliency bank -------------------------------------------------------------------------

def test_the_bank_leaves_no_files_and_closes_twice(tmp_path):
    import glob
    import os
    import tempfile

    from dali_regaug.saliency import SaliencyBank

    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "*psm_*")))
    bank = SaliencyBank(4, 8)
    other = SaliencyBank.attach(bank.name)
    other.update([0], np.ones((1, 8, 8), np.float32), [[0, 0, 1, 1]], [0])
    other.close()
    other.close()
    assert bank.fill_ratio() == 0.25
    bank.close()
    bank.close()  # a second close does nothing
    with pytest.raises(RuntimeError, match="is closed"):
        bank.fill_ratio()
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "*psm_*"))) == before
    assert not os.path.exists(os.path.join("/dev/shm", bank.name.lstrip("/")))


def test_a_map_beyond_float16_is_skipped_like_nan():
    from dali_regaug.saliency import SaliencyBank

    with SaliencyBank(3, 8) as bank:
        maps = np.ones((3, 8, 8), np.float32)
        maps[1, 0, 0] = 1e6  # finite, but inf in the bank's float16
        maps[2, 0, 0] = np.nan
        bank.update([0, 1, 2], maps, np.tile([0, 0, 1, 1.], (3, 1)), np.zeros(3))
        _, present = bank.read([0, 1, 2], np.tile([0, 0, 1, 1.], (3, 1)), np.zeros(3), (8, 8))
        assert present.tolist() == [True, False, False] and bank.skipped == 2
        assert np.isfinite(bank.maps.astype(np.float32)).all()


# -- images the operators cannot work on ----------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 8, 3), (8, 0, 3), (8, 8, 0)])
@pytest.mark.parametrize("kind", ["mix", "grid_mask", "cutout"])
def test_empty_images_are_refused_naming_the_sample(kind, shape):
    from dali_regaug.ops.erasing import Cutout
    from dali_regaug.ops.grid_mask import GridMask
    from dali_regaug.ops.mixing import Mix

    batch = [np.zeros((8, 8, 3), np.float32), np.zeros(shape, np.float32)]
    with pytest.raises(ValueError, match=r"sample 1 has shape \(\d, \d, \d\); expected 3-D"):
        op = Mix(seed=0) if kind == "mix" else GridMask(seed=0) if kind == "grid_mask" else \
            Cutout(size=2, seed=0)
        op.sample_named({"shapes": [a.shape for a in batch]})


# -- fills -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fill", [float("inf"), -float("inf"), 1e39, (0.0, float("inf"), 0.0)])
def test_a_fill_no_image_type_can_hold_is_refused_when_built(fill):
    from dali_regaug.ops.grid_mask import GridMask

    with pytest.raises(ValueError, match="fill=.*finite"):
        GridMask(fill=fill, seed=0)


@pytest.mark.parametrize("dtype, fill, found", [
    (np.float16, 1e6, "cannot be stored in float16"),
    (np.uint8, 300.0, "cannot be stored in uint8"),
    (np.uint8, -1.0, "cannot be stored in uint8"),
    (np.uint8, 0.5, "cannot be stored in uint8"),
    (np.uint8, (0, 0, 256), "cannot be stored in uint8"),
])
@pytest.mark.parametrize("backend", [None, "emulator"])
def test_a_fill_the_images_type_cannot_hold_is_refused(dtype, fill, found, backend):
    from dali_regaug.ops.erasing import Cutout

    op = Cutout(size=4, fill=fill, seed=0)
    images = np.zeros((2, 8, 8, 3), dtype)
    with pytest.raises(ValueError, match=found):
        op.apply(images, op.draw(np.full((2, 2), 8)), backend=backend)


@pytest.mark.parametrize("dtype, fill", [(np.float16, 60000.0), (np.uint8, 255),
                                         (np.float32, 1e6), (np.uint8, (0, 128, 255))])
def test_a_representable_fill_is_written_exactly(dtype, fill):
    from dali_regaug.ops.erasing import Cutout

    op = Cutout(size=8, fill=fill, seed=0)
    p = op.draw(np.full((1, 2), 8))
    y0, x0, y1, x1 = p["boxes"][0, 0]
    out = op.apply(np.zeros((1, 8, 8, 3), dtype), p)[0, y0:y1, x0:x1]
    assert out.size and (out == np.broadcast_to(np.asarray(fill, dtype), out.shape)).all()


def test_random_fill_cost_follows_the_erased_pixels_not_the_image():
    """1,617 erased pixels of a 4000x4000 image: only they are hashed and written (the
    old per-shape table hashed all 16 M pixels and kept 384 MB per shape), and mixed
    shapes give the same noise as one shape."""
    import tracemalloc

    from dali_regaug.ops.erasing import RandomErasing

    op = RandomErasing(prob=1.0, area=(1e-4, 1e-4), seed=0)
    big = np.zeros((1, 4000, 4000, 3), np.float32)
    p = op.draw(np.array([[4000, 4000]]))
    tracemalloc.start()
    op.apply(big, p, out=big)  # in place
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    y0, x0, y1, x1 = p["boxes"][0, 0]
    assert (big[0, y0:y1, x0:x1] != 0).all() and (big != 0).sum() == (y1 - y0) * (x1 - x0) * 3
    assert peak < 8 * 2**20  # the image alone is 192 MB
    shapes = [(40, 50), (41, 50), (40, 50), (30, 70)]
    ragged = [np.zeros((h, w, 3), np.float32) for h, w in shapes]
    op = RandomErasing(prob=1.0, seed=0)
    p = op.draw(np.array(shapes))
    assert p["boxes"][:, 0, 2].all()
    for x, y, rec in zip(op.apply(ragged, p), ragged, p):
        alone = op.apply([y], rec[None])[0]
        assert np.array_equal(x, alone)


# -- layouts ----------------------------------------------------------------------------------

def _layout_pipe(build, layout="HWC", shape=(32, 32, 3)):
    """A CPU pipeline over fixed random float images given to ``build`` with ``layout``
    (None: no layout)."""
    from nvidia.dali import fn as dfn
    from nvidia.dali import pipeline_def

    data = [np.random.default_rng(i).random(shape, dtype=np.float32) for i in range(2)]

    @pipeline_def(batch_size=2, num_threads=1, device_id=None, seed=3)
    def pipe():
        kw = {} if layout is None else {"layout": layout}
        return build(dfn.external_source(source=lambda: data, batch=True, **kw))

    p = pipe()
    p.build()
    return p, data


def test_chw_input_is_masked_as_chw_without_being_told():
    """crop_mirror_normalize's usual CHW output: GridMask masks the same pixels in every
    channel (squares), as the NumPy reference on CHW data with its sampled parameters."""
    from nvidia.dali import fn as dfn
    from nvidia.dali import types

    from dali_regaug import fn as rfn
    from dali_regaug import registry

    def build(x):
        chw = dfn.crop_mirror_normalize(x, dtype=types.FLOAT, output_layout="CHW")
        out, params = rfn.grid_mask(chw, d=8, fill=0.0, return_params=True, name="gm")
        return chw, out, params

    pipe, _ = _layout_pipe(build)
    chw, out, params = pipe.run()
    assert out.layout() == "CHW"
    op = registry.ops(pipe)["gm"]
    assert op.layout == "CHW"
    want = op.apply([np.asarray(t) for t in chw], rfn.decode_params(op, params))
    for got, ref in zip(out, want):
        got = np.asarray(got)
        assert np.array_equal(got, ref)
        dropped = got == 0
        assert (dropped == dropped[:1]).all() and 0 < dropped.mean() < 1


def test_the_output_keeps_the_inputs_layout_for_the_next_dali_operator():
    from nvidia.dali import fn as dfn

    from dali_regaug import fn as rfn

    pipe, _ = _layout_pipe(lambda x: dfn.resize(rfn.cutout(x, size=4), size=[16, 16]),
                           shape=(32, 24, 3))
    out, = pipe.run()
    assert out.layout() == "HWC" and np.asarray(out[0]).shape == (16, 16, 3)


def test_an_explicit_layout_that_disagrees_with_the_input_names_both():
    from dali_regaug import fn as rfn

    with pytest.raises(ValueError, match="layout='CHW' disagrees with the layout of images, "
                                         "'HWC'"):
        _layout_pipe(lambda x: rfn.grid_mask(x, layout="CHW"))


def test_an_input_without_a_layout_asks_for_one():
    from dali_regaug import fn as rfn

    with pytest.raises(ValueError, match="cannot tell the layout.*pass layout='HWC' or "
                                         "layout='CHW'"):
        _layout_pipe(lambda x: rfn.random_erasing(x), layout=None)
    pipe, data = _layout_pipe(lambda x: rfn.random_erasing(x, layout="HWC"), layout=None)
    assert np.asarray(pipe.run()[0][0]).shape == data[0].shape  # told: it runs


def test_a_layout_the_graph_could_not_see_is_checked_when_the_batch_arrives():
    """A user's python_function labels HWC data; the operator was told CHW: the first batch
    is refused, naming both layouts, instead of being masked along the wrong axes."""
    from nvidia.dali import fn as dfn

    from dali_regaug import fn as rfn

    def build(x):
        relabelled = dfn.python_function(x, function=lambda a: a, output_layouts="HWC")
        return rfn.grid_mask(relabelled, layout="CHW")

    pipe, _ = _layout_pipe(build)
    with pytest.raises(RuntimeError, match="images arrive with layout 'HWC', but the operator "
                                           "was built for 'CHW'"):
        pipe.run()


@pytest.mark.parametrize("kind", ["augmented", "masks"])
def test_partner_and_mask_inputs_in_another_layout_are_refused(kind):
    from nvidia.dali import fn as dfn
    from nvidia.dali import types

    from dali_regaug import fn as rfn
    from dali_regaug.saliency import SaliencyBank

    bank = SaliencyBank(4, 8)
    try:
        def build(x):
            ids = dfn.constant(idata=0, dtype=types.INT64)
            crops = dfn.constant(fdata=[0.0, 0.0, 1.0, 1.0], shape=[4])
            flips = dfn.constant(idata=0)
            other = dfn.transpose(x, perm=[2, 0, 1])  # CHW
            if kind == "augmented":
                return rfn.keep_paste(x, sample_ids=ids, crops=crops, flips=flips, bank=bank, size=4, augmented=other)
            boxes = dfn.constant(fdata=[0.1, 0.1, 0.5, 0.5], shape=[1, 4])
            labels = dfn.constant(idata=[1], shape=[1])
            return rfn.bbox_erasing(x, boxes, labels, masks=other, mask_fill=255)[0]

        with pytest.raises(ValueError, match=f"disagrees with the layout of {kind}, 'CHW'"):
            _layout_pipe(build)
    finally:
        bank.close()


@pytest.mark.parametrize("brightness, contrast", [(0.0, 0.4), (0.4, 0.0), (0.0, 0.0)])
def test_image_level_runs_with_either_factor_at_zero(brightness, contrast):
    """A factor with no range is the constant 1 (DALI refuses the empty range [1, 1))."""
    from dali_regaug import fn as rfn

    pipe, data = _layout_pipe(lambda x: rfn.image_level(x, rotate=0.0, brightness=brightness,
                                                        contrast=contrast))
    out = np.asarray(pipe.run()[0][0])
    if brightness == contrast == 0:
        assert np.array_equal(out, data[0])
    else:
        assert out.shape == data[0].shape and np.isfinite(out).all()


def test_masks_of_another_size_than_their_images_are_refused():
    from nvidia.dali import fn as dfn

    from dali_regaug import fn as rfn

    def build(x):
        masks = dfn.external_source(source=lambda: [np.zeros((8, 8, 1), np.uint8)] * 2,
                                    batch=True, layout="HWC")
        boxes = dfn.constant(fdata=[0.1, 0.1, 0.9, 0.9], shape=[1, 4])
        labels = dfn.constant(idata=[1], shape=[1])
        return rfn.bbox_erasing(x, boxes, labels, masks=masks, mask_fill=255, prob=1.0)[3]

    pipe, _ = _layout_pipe(build, shape=(16, 16, 3))
    with pytest.raises(RuntimeError, match=r"masks: sample 0 is \(8, 8\) but its image is "
                                           r"\(16, 16\)"):
        pipe.run()


def test_erasing_clips_boxes_to_a_smaller_target_as_the_mask_path_does():
    from dali_regaug.ops import rects
    from dali_regaug.ops.erasing import Erase

    op = Erase(max_boxes=1, fill=255, seed=0)
    p = np.zeros(1, op.params_dtype)
    p["count"], p["boxes"][0, 0] = 1, (2, 6, 5, 10)  # beyond an 8-wide target
    flat, _ = rects.dropped(p, 8, 8, False)
    assert np.array_equal(np.sort(flat), np.flatnonzero(rects.covered(p, 8, 8)))


def test_describe_refuses_what_would_read_back_otherwise_and_reads_numpy_plainly():
    from dali_regaug import schedule, spec

    for bad in ("true", "1-2", "0.5", "[a]"):  # a fill of these words is no fill
        with pytest.raises(ValueError, match="fill='.*': expected a number"):
            spec.describe({"grid_mask": {"fill": bad}})
    with pytest.raises(ValueError, match="r=nan is out of range"):
        spec.describe({"grid_mask": {"r": float("nan")}})
    cfg = {"grid_mask": {"prob": schedule.Constant(0.5), "d": np.array([4, 12]),
                         "r": np.float32(0.25), "fill": None}}
    assert spec.describe(cfg) == "grid_mask(prob=0.5,d=4-12,r=0.25)"
