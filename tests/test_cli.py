"""``dali-regaug preview`` writes a grid of every operator's output on the bundled images."""

import numpy as np
from PIL import Image

from dali_regaug.cli import main
from dali_regaug.preview import DEFAULT_OPS


def test_preview_writes_a_grid_and_prints_params(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["preview", "--out", str(out), "--size", "64", "--device", "cpu",
                 "--show-params"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape[0] == (64 + 6) * (len(DEFAULT_OPS) + 1)
    text = capsys.readouterr().out
    assert "grid_mask:" in text and "boxes=" in text and f"wrote {out}" in text
