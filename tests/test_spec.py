"""The augment spec: one string or dict builds the same operators as direct calls."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dali_regaug import schedule, spec
from dali_regaug.pipelines import sample_images, train_pipeline


def test_string_and_dict_forms_parse_to_the_same_operators():
    text = "gridmask(r=0.6,d=96-224,p=0.8,ramp=240) + erasing(fill=random,area=0.02-0.4) + cutmix"
    ops = spec.parse(text)
    assert [name for name, _ in ops] == ["grid_mask", "random_erasing", "cutmix"]
    gm = ops[0][1]
    assert gm["r"] == 0.6 and gm["d"] == (96, 224)
    assert isinstance(gm["prob"], schedule.Linear)
    assert (gm["prob"].end, gm["prob"].epochs) == (0.8, 240)
    as_dict = {"grid_mask": {"r": 0.6, "d": (96, 224), "prob": schedule.Linear(0.8, 240)},
               "random_erasing": {"fill": "random", "area": (0.02, 0.4)}, "cutmix": {}}
    assert spec.describe(as_dict) == spec.describe(text)
    assert spec.mixes(text) and not spec.mixes("cutout(size=8)")
    assert spec.parse(None) == spec.parse("none") == []


@settings(max_examples=40, deadline=None)
@given(r=st.floats(0, 1), lo=st.integers(1, 100), span=st.integers(0, 100),
       rot=st.floats(0, 360), reverse=st.booleans())
def test_describe_parses_back_to_the_same_spec(r, lo, span, rot, reverse):
    ops = [("grid_mask", {"r": r, "d": (lo, lo + span), "rotate": rot, "reverse": reverse})]
    assert spec.parse(spec.describe(ops)) == ops


@pytest.mark.parametrize("bad, words", [
    ("foo(a=1)", ["unknown operator 'foo'", "grid_mask"]),
    ("cutmix(beta=2)", ["cutmix has no argument beta", "alpha"]),
    ("cutmix + mixup", ["at most one mixing operator"]),
    ("gridmask(r)", ["'r'", "arg=value"]),
])
def test_bad_specs_are_named(bad, words):
    with pytest.raises(ValueError) as err:
        spec.parse(bad)
    assert all(w in str(err.value) for w in words)


def test_bad_values_fail_when_the_pipeline_is_built_naming_the_argument():
    with pytest.raises(ValueError, match="r=1.5"):
        train_pipeline(sample_images(), batch_size=2, size=32, device="cpu",
                       augment="gridmask(r=1.5)")


def test_spec_pipeline_equals_direct_operator_calls():
    from dali_regaug import fn as rfn

    def direct(x, y, ids):
        x = rfn.grid_mask(x, d=(8, 16), layout="CHW", sample_ids=ids, seed=5)
        return rfn.cutout(x, size=10, layout="CHW", sample_ids=ids, seed=6)

    def from_spec(x, y, ids):
        return spec.build("gridmask(d=8-16,seed=5) + cutout(size=10,seed=6)", x,
                          {"labels": y}, layout="CHW", views={"sample_ids": ids})[0]

    outs = [train_pipeline(sample_images(), batch_size=4, size=48, device="cpu", seed=1,
                           augment=aug).run()[-1] for aug in (direct, from_spec)]
    a, b = (np.stack([np.asarray(o.at(i)) for i in range(4)]) for o in outs)
    assert np.array_equal(a, b) and (a == 0).any()
