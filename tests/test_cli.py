"""``dali-regaug preview`` writes a grid of each spec's output and prints the parameters."""

import numpy as np
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
    assert "grid_mask(d=48-112) [row0_grid_mask_0]:" in text and "boxes=" in text
    assert f"wrote {out}" in text


def test_preview_takes_specs_and_one_image_per_class_of_a_dataset(tmp_path, capsys):
    from dali_regaug import sample_data

    data = sample_data.make(tmp_path / "d", train_per_class=1, val_per_class=1, progress=None)
    out = tmp_path / "p.png"
    assert main(["preview", "--data", str(data), "--columns", "3", "--augment", "cutout(size=8)",
                 "--out", str(out), "--size", "32", "--device", "cpu"]) == 0
    assert np.asarray(Image.open(out)).shape[:2] == (2 * (32 + 6), 300 + 3 * (32 + 6))
    assert "3 images x 2 rows" in capsys.readouterr().out
