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


@pytest.mark.parametrize("mixing", [True, False])
def test_the_training_loop_runs_as_written_for_specs_that_mix_and_that_do_not(tmp_path,
                                                                             monkeypatch, mixing):
    """The README's loop, on a small dataset and a small model: the same code serves a spec
    with CutMix and the same spec without it."""
    torch = pytest.importorskip("torch")
    from dali_regaug import sample_data

    root = sample_data.make(tmp_path / "d", train_per_class=2, val_per_class=1, progress=None)
    loop = _block("In your own loop")
    for pattern, small in ((r'"/imagenet/train"', repr(str(root / "train"))),
                           (r"batch_size=\d+", "batch_size=4"), (r"\bsize=\d+", "size=32"),
                           (r"range\(\d+\)", "range(2)"), (r"ramp=\d+", "ramp=2")):
        loop = re.sub(pattern, small, loop)
    if not mixing:
        loop = loop.replace(" + cutmix(alpha=1)", "")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    losses = []

    def record(logits, *targets, **kw):
        from dali_regaug.torch import mixed_cross_entropy

        labels, labels_b, lam = targets
        assert (labels_b is labels) == (not mixing) and ((lam == 1).all() or mixing)
        losses.append(mixed_cross_entropy(logits, *targets, **kw))
        return losses[-1]

    monkeypatch.chdir(tmp_path)
    imports = "from dali_regaug.torch import Loader, mixed_cross_entropy"
    assert imports in loop  # the loss is the library's, watched by record()
    scope = {"model": model, "torch": torch, "mixed_cross_entropy": record}
    exec(compile(loop.replace(imports, "from dali_regaug.torch import Loader"), "README.md",
                 "exec"), scope)
    assert len(losses) == 2 * len(scope["train"]) and all(torch.isfinite(x) for x in losses)
    assert (tmp_path / "ck.pt").exists()
