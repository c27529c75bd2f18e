"""The README's code runs as written: its own-pipeline snippet on the sample data, and its
training loop for a spec that mixes and for one that does not."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _block(after: str) -> str:
    """The first python block after the heading or sentence ``after``."""
    return re.search(r"```python\n(.*?)```", README[README.index(after):], re.S).group(1)


def test_the_own_pipeline_snippet_runs_as_written(tmp_path, monkeypatch):
    from dali_regaug import sample_data

    small = sample_data.make(tmp_path, train_per_class=4, val_per_class=1, progress=None)
    monkeypatch.setattr(sample_data, "make", lambda *a, **k: small)
    scope = {}
    exec(compile(_block("## Operators in your own pipeline"), "README.md", "exec"), scope)
    images, labels, labels_b, lam = (o.as_array() for o in scope["pipe"].run())
    classes = sorted(p.name for p in (small / "train").iterdir())
    assert images.shape == (32, 3, 224, 224) and labels.max() < len(classes)
    assert set(scope["state"]) == {"grid_mask_0", "random_erasing_1", "cutmix_2"}


@pytest.mark.parametrize("augment", ["gridmask(d=8-16)", "gridmask(d=8-16) + cutmix(alpha=1)"])
def test_one_training_loop_serves_specs_that_mix_and_that_do_not(augment):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from dali_regaug.pipelines import sample_images
    from dali_regaug.torch import Loader, mixed_cross_entropy

    loop = _block("In your own loop")
    assert "for images, targets in train:" in loop and "mixed_cross_entropy(model(images), *targets)" in loop
    train = Loader.train_loader(sample_images(), batch_size=2, size=32, device="cpu", seed=0,
                                augment=augment)
    logits = torch.randn(2, 5)
    for images, targets in train:
        loss = mixed_cross_entropy(logits, *targets)
        labels, labels_b, lam = targets
        if "cutmix" not in augment:
            assert labels_b is labels and (lam == 1).all()
            assert torch.equal(loss, F.cross_entropy(logits, labels))
        assert images.shape == (2, 3, 32, 32) and torch.isfinite(loss)
