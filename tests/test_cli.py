"""``dali-regaug preview`` writes a grid of each spec's output and prints the parameters."""

import re

import numpy as np
import pytest
from PIL import Image

from dali_regaug.cli import main
from dali_regaug.pipelines import sample_images
from dali_regaug.preview import DEFAULT_SPECS


def test_preview_writes_a_grid_and_prints_params(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["preview", *sample_images(), "--out", str(out), "--size", "64",
                 "--device", "cpu", "--show-params"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape[0] == (64 + 6) * (len(DEFAULT_SPECS) + 1)
    text = capsys.readouterr().out
    assert "grid_mask(d=48-112) [row0_grid_mask_0]:" in text
    # what a person reads: the unit and offset, the erased boxes, the mixing mode and lam
    assert "unit d=" in text and "erased (" in text and "lam=" in text
    assert "key=" not in text and "unit_threshold" not in text and "w_in" not in text
    assert f"wrote {out}" in text


def test_preview_takes_specs_and_one_image_per_class_of_a_dataset(tmp_path, capsys):
    from dali_regaug import sample_data

    data = sample_data.make(tmp_path / "d", train_per_class=1, val_per_class=1, progress=None)
    out = tmp_path / "p.png"
    assert main(["preview", "--data", str(data), "--columns", "3", "--augment", "cutout(size=8)",
                 "--out", str(out), "--size", "32", "--device", "cpu"]) == 0
    assert np.asarray(Image.open(out)).shape[:2] == (2 * (32 + 6), 300 + 3 * (32 + 6))
    assert "3 images x 2 rows" in capsys.readouterr().out


def test_preview_coco_draws_each_rows_boxes(tmp_path, capsys):
    from dali_regaug import sample_coco
    from dali_regaug.preview import COCO_SPECS, _draw_boxes

    data = sample_coco.make(tmp_path / "c", train=4, val=1, progress=None)
    out = tmp_path / "p.png"
    assert main(["preview", "--coco", "--data", str(data), "--columns", "2", "--size", "48",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert np.asarray(Image.open(out)).shape[:2] == ((len(COCO_SPECS) + 1) * (48 + 6),
                                                     300 + 2 * (48 + 6))
    assert f"2 images x {len(COCO_SPECS) + 1} rows" in capsys.readouterr().out
    polygons = np.array([[[0, 0, 3], [-1, -1, -1]]])  # one triangle, then padding
    vertices = np.array([[[0.3, 0.35], [0.7, 0.35], [0.5, 0.65], [0, 0]]])
    drawn = _draw_boxes(np.zeros((1, 20, 40, 3), np.uint8),
                        np.array([[[0.25, 0.25, 0.75, 0.75], [0, 0, 1, 1]]]), np.array([1]),
                        polygons, vertices)[0]
    outline = np.zeros((20, 40), bool)
    outline[5:15, 10:30] = True
    outline[7:13, 12:28] = False  # a 2-pixel outline around the first box only
    assert np.array_equal((drawn == 255).all(-1), outline)
    cyan = np.argwhere((drawn == [0, 255, 255]).all(-1))  # the triangle, inside the box
    assert len(cyan) > 10 and cyan.min(0).tolist() == [7, 12] and cyan.max(0).tolist()[0] <= 13


def test_preview_saliency_shows_the_maps_and_the_guided_operators(tmp_path, capsys):
    from dali_regaug.preview import SALIENCY_SPECS, spectral_residual

    out = tmp_path / "s.png"
    assert main(["preview", *sample_images()[:3], "--saliency", "--size", "64",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert f"3 images x {len(SALIENCY_SPECS) + 2} rows" in capsys.readouterr().out
    assert Image.open(out).size[1] == (len(SALIENCY_SPECS) + 2) * (64 + 6)
    # the spectral residual finds a small bright square on a noisy flat background
    grey = 100 + 5 * np.random.default_rng(0).standard_normal((1, 64, 64))
    grey[0, 40:46, 10:16] += 80
    s = spectral_residual(grey)[0]
    assert s[40:46, 10:16].mean() > 5 * s.mean()


def test_bench_runs_a_benchmark_with_its_own_options(tmp_path):
    out = tmp_path / "s.json"
    assert main(["bench", "scaling", "--batches", "2", "4", "--sizes", "16", "--batch", "2",
                 "--size", "16", "--iters", "1", "--rounds", "1", "--json", str(out)]) == 0
    assert out.exists()


def test_ops_lists_every_operator_with_its_arguments_and_shows_one(capsys):
    from dali_regaug.ops import catalog

    assert main(["ops"]) == 0
    text = capsys.readouterr().out
    for name, decl in catalog.operators().items():
        assert f"\n{name}: " in "\n" + text
        for a in decl.all_args:
            if a.spec:
                assert f"    {a.name}={a.shown_default()}" in text
    assert main(["ops", "gridmask"]) == 0
    one = capsys.readouterr().out
    assert one.startswith("grid_mask (also gridmask)") and "unit_prob : number in [0, 1]" in one
    assert "Returns" in one


@pytest.mark.parametrize("augment, says", [
    ("gridmsk(d=9)", "unknown operator 'gridmsk'"),
    ("gridmask(dd=9)", "grid_mask has no argument dd"),
    ("gridmask(d=(96,224))", "write a range as a-b and a sequence as [a,b,c] (d=96-224)"),
    ("gridmask(r=2)", "r=2 is out of range")])
def test_cli_mistakes_are_one_line_and_the_traceback_is_behind_debug(capsys, augment, says):
    assert main(["train", "--augment", augment]) == 1
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(ValueError, match=re.escape(says)):
        main(["--debug", "train", "--augment", augment])


def test_unknown_operator_lists_each_name_once(capsys):
    from dali_regaug.ops import catalog

    main(["preview", "--augment", "nope()"])
    err = capsys.readouterr().err
    for name in catalog.operators():
        assert err.count(f" {name},") + err.count(f" {name} ") <= 1, name


def test_bench_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "operators", "--help"])
    assert capsys.readouterr().out.startswith("usage: dali-regaug bench operators")
