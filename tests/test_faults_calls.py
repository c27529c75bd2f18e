"""Fault campaign of the declared operators (issue 16): calls the code cannot interpret are
refused by name, never taken as something else."""

import numpy as np
import pytest

from dali_regaug import spec
from dali_regaug.cli import main
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask


def test_draw_takes_heights_and_widths_not_image_shapes():
    op = RandomErasing(prob=1.0, seed=0)
    with pytest.raises(ValueError, match=r"expected \(N, 2\) heights and widths, got an array "
                                         r"of shape \(2, 3\)"):
        op.draw([(64, 48, 3), (64, 48, 3)])
    with pytest.raises(ValueError, match=r"sample 1 has size \(0, 5\)"):
        op.draw([(4, 4), (0, 5)])


def test_apply_needs_one_record_of_its_own_operator_per_image():
    x = np.zeros((2, 16, 16, 3), np.uint8)
    op = Cutout(size=4, seed=0)
    with pytest.raises(ValueError, match="3 records for 2 images"):
        op.apply(x, op.draw(np.full((3, 2), 16)))
    with pytest.raises(TypeError, match="records of another operator"):
        op.apply(x, GridMask(seed=0).draw(np.full((2, 2), 16)))


def test_a_ramp_rises_to_the_operators_default_probability_not_to_one():
    (cfg,) = spec.parse("random_erasing(ramp=10)")
    assert cfg.kwargs["prob"].end == 0.5  # Random Erasing's p
    (cfg,) = spec.parse("bbox_erasing(ramp=4,p=0.3)")
    assert cfg.kwargs["prob"].end == 0.3


@pytest.mark.parametrize("text, says", [
    ("gridmask()+", "has an empty operator"),
    ("gridmask(ramp=0)", "ramp is a whole number of epochs"),
    ("gridmask(d=\u0661\u0660-\u0662\u0660)", "expected an integer"),  # Arabic-Indic digits
])
def test_spec_mistakes_are_named(text, says):
    with pytest.raises(ValueError, match=says):
        spec.parse(text)


def test_torch_out_must_be_contiguous_and_is_written_in_place():
    torch = pytest.importorskip("torch")
    op = Cutout(size=4, layout="CHW", fill=0.0, seed=0)
    p = op.draw(np.full((3, 2), (9, 11)))
    strided = torch.rand(3, 3, 11, 9).transpose(2, 3)
    with pytest.raises(ValueError, match="out must be a contiguous tensor"):
        op.apply(strided, p, out=strided)
    x = strided.contiguous()
    want = op.apply(x.numpy(), p)
    op.apply(x, p, out=x)
    np.testing.assert_array_equal(x.numpy(), want)


def test_the_cli_says_a_pipelines_error_in_one_line(capsys, tmp_path):
    from dali_regaug.pipelines import sample_images

    files = sample_images()[:2]
    assert main(["preview", *files, "--size", "32", "--device", "cpu", "--out",
                 str(tmp_path / "p.png"), "--augment", "gridmask(fill=[1,2])"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "fill=[1.0, 2.0] has 2 values for images with 3 channels" in err
    assert main(["preview", "/no/such.jpg", "--out", str(tmp_path / "p.png")]) == 1
    assert "no such image file: /no/such.jpg" in capsys.readouterr().err


def test_views_of_the_wrong_size_are_named():
    from dali_regaug.ops.placement import BelowQuantile
    from dali_regaug.saliency import SaliencyBank

    with SaliencyBank(4) as bank:
        place = BelowQuantile(bank=bank)
        with pytest.raises(ValueError, match=r"crops: sample 1 has 3 values; expected 4"):
            place.view({"crops": [np.zeros(4), np.zeros(3)], "flips": [0, 0]},
                       np.full((2, 2), 8), 0, np.arange(2))


def test_size_must_be_positive():
    from dali_regaug.pipelines import sample_images, train_pipeline

    with pytest.raises(ValueError, match="size=0 is out of range"):
        train_pipeline(sample_images(), batch_size=2, size=0, device="cpu")


def test_an_empty_batch_comes_back_as_it_went_in():
    op = Cutout(size=4, seed=0)
    p = op.draw(np.zeros((0, 2)))
    empty = np.zeros((0, 8, 8, 3), np.uint8)
    out = op.apply(empty, p)
    assert out.shape == empty.shape and out.dtype == np.uint8
    assert op.apply([], p) == []
