"""``dali-regaug train`` and ``make-sample-data``: a short CPU run learns with GridMask and
with CutMix, checkpoints resume, and the sample dataset has the promised layout."""

import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dali_regaug import sample_data, schedule
from dali_regaug.cli import main
from dali_regaug.train import Config, fit, ramped


@pytest.fixture(scope="module")
def two_colours(tmp_path_factory):
    """A tiny, easy task: noise strongly tinted red, green or blue (three classes), so that
    any CPU's rounding learns it by a wide margin."""
    root = tmp_path_factory.mktemp("colours")
    rs = np.random.default_rng(0)
    for split, n in (("train", 32), ("val", 4)):
        for k, name in enumerate(("red", "green", "blue")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                img = rs.integers(0, 100, (40, 48, 3))
                img[..., k] += 120
                Image.fromarray(img.astype(np.uint8)).save(root / split / name / f"{i}.png")
    return root


@pytest.mark.parametrize("augment", ["gridmask(d=8-16,p=0.8)", "cutmix(alpha=1)"])
def test_a_short_cpu_run_learns_with_region_augmentation(two_colours, tmp_path, augment):
    cfg = Config(data=str(two_colours), out=str(tmp_path), epochs=5, batch_size=8, size=32,
                 lr=0.2, label_smoothing=0.0, augment=augment, ramp=False, device="cpu", workers=2,
                 progress=False)
    history = fit(cfg)
    assert [h["epoch"] for h in history] == list(range(5))
    # properties of the run, not of one CPU's trajectory: the loss falls well below the
    # first epoch's at some later epoch, and the task is learnt
    assert min(h["loss"] for h in history[1:]) < 0.7 * history[0]["loss"]
    assert max(h["top1"] for h in history) >= 0.9
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in lines] == [h["loss"] for h in history]


@pytest.mark.parametrize("amp, channels_last, dtype", [(None, None, torch.float32),
                                                      (True, True, torch.bfloat16)])
def test_amp_and_channels_last_reach_the_model(two_colours, tmp_path, monkeypatch, amp,
                                               channels_last, dtype):
    """Off by default on CPU; when asked for, the first convolution gets channels-last
    inputs and computes in bfloat16 (the CPU autocast type), and training still learns: the
    loss is finite and falls well below the first epoch's (its exact trajectory depends on
    the CPU's bfloat16 rounding, so no epoch-by-epoch order is asserted)."""
    seen, real = [], torchvision.models.resnet18

    def spy(**kwargs):
        model = real(**kwargs)
        model.conv1.register_forward_hook(lambda m, inp, out: seen.append(
            (inp[0].is_contiguous(memory_format=torch.channels_last), out.dtype)))
        return model

    monkeypatch.setattr(torchvision.models, "resnet18", spy)
    cfg = Config(data=str(two_colours), out=str(tmp_path), epochs=3, batch_size=8, size=32,
                 lr=0.2, label_smoothing=0.0, augment="none", device="cpu", workers=2,
                 progress=False, amp=amp, channels_last=channels_last)
    history = fit(cfg)
    assert seen and set(seen) == {(bool(channels_last), dtype)}
    losses = [h["loss"] for h in history]
    assert np.isfinite(losses).all()
    assert min(losses[1:]) < 0.7 * losses[0]


def test_resume_from_a_checkpoint_continues_at_the_next_epoch(two_colours, tmp_path, capsys):
    args = ["train", "--data", str(two_colours), "--out", str(tmp_path), "--batch-size", "8",
            "--size", "32", "--device", "cpu", "--workers", "2", "--no-progress",
            "--augment", "cutout(size=8)"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume", str(tmp_path / "checkpoint.pt")]) == 0
    out = capsys.readouterr().out
    assert "epoch 0:" in out and "epoch 1:" in out and "top-5" in out
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1]


def test_gridmask_gets_the_papers_ramp_over_the_run_unless_the_spec_sets_one():
    (_, kw), = ramped("gridmask(p=0.8)", epochs=10)
    assert isinstance(kw["prob"], schedule.Linear)
    assert (kw["prob"].end, kw["prob"].epochs) == (0.8, 10)
    (_, kw), = ramped("gridmask(p=0.8,ramp=3)", epochs=10)
    assert kw["prob"].epochs == 3


def test_make_sample_data_builds_an_imagenet_layout_of_photos(tmp_path, capsys):
    assert main(["make-sample-data", "--out", str(tmp_path), "--train-per-class", "3",
                 "--val-per-class", "1"]) == 0
    classes = sorted(sample_data.sources())
    assert len(classes) >= 4
    for split, n in (("train", 3), ("val", 1)):
        assert sorted(p.name for p in (tmp_path / split).iterdir()) == classes
        files = sorted((tmp_path / split).glob("*/*.JPEG"))
        assert len(files) == n * len(classes)
    sizes = {Image.open(f).size for f in (tmp_path / "train").glob("*/*.JPEG")}
    assert sizes <= set(sample_data.SIZES) and len(sizes) > 1
    stamp = (tmp_path / "sample-data.json").stat().st_mtime_ns
    sample_data.make(tmp_path, train_per_class=3, val_per_class=1)  # kept, not rebuilt
    assert (tmp_path / "sample-data.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("saliency", ["free", "vanilla", "lowres", "gradcam"])
def test_each_producer_fills_the_bank_that_keep_cutout_reads(two_colours, tmp_path, capsys,
                                                             saliency):
    args = ["train", "--data", str(two_colours), "--out", str(tmp_path), "--batch-size", "8",
            "--size", "32", "--device", "cpu", "--workers", "2", "--epochs", "1",
            "--augment", "keep_cutout(size=8)", "--saliency", saliency]
    assert main(args) == 0
    assert "bank=100%" in capsys.readouterr().err  # the progress bar shows the fill ratio
    bank = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["saliency"]
    assert (bank["version"] == 1).all()
    maps = bank["maps"].astype(np.float32)
    nonzero = maps.reshape(len(maps), -1).max(1) > 0
    assert np.isfinite(maps).all()
    # Grad-CAM's ReLU may leave a whole map at 0 (here layer4 is 1x1); gradients never do
    assert nonzero.any() if saliency == "gradcam" else nonzero.all()


def test_the_bank_resumes_with_the_checkpoint(two_colours, tmp_path):
    args = ["train", "--data", str(two_colours), "--out", str(tmp_path), "--batch-size", "8",
            "--size", "32", "--device", "cpu", "--workers", "2", "--no-progress",
            "--augment", "keep_cutout(size=8)", "--saliency", "free"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume", str(tmp_path / "checkpoint.pt")]) == 0
    bank = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["saliency"]
    assert (bank["version"] == 2).all()  # one update per epoch, the first one restored


def test_a_producer_and_a_guided_operator_go_together(two_colours, tmp_path):
    common = dict(data=str(two_colours), out=str(tmp_path), epochs=1, batch_size=8, size=32,
                  device="cpu", workers=2, progress=False)
    with pytest.raises(ValueError, match="--saliency free"):
        fit(Config(augment="keep_cutout(size=8)", **common))
    with pytest.raises(ValueError, match="nothing reads"):
        fit(Config(augment="cutout(size=8)", saliency="free", **common))


def _ddp_rank(rank, world, port, data, out):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
    try:
        fit(Config(data=str(data), out=str(out), epochs=1, batch_size=8, size=32,
                   device="cpu", workers=1, progress=False, augment="keep_cutout(size=8)",
                   saliency="free"))
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_ranks_on_one_node_share_one_bank(two_colours, tmp_path):
    """Each rank trains on half the samples; the checkpoint's bank has maps for all."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_rank, args=(2, port, two_colours, tmp_path), nprocs=2)
    bank = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["saliency"]
    assert (bank["version"] >= 1).all()


def test_the_running_loss_is_read_at_log_intervals_not_every_step(monkeypatch):
    """Reading a CUDA loss waits for the GPU: the epoch sums losses on their device and
    reads the sum every LOG_EVERY steps (and at the end) for the progress bar."""
    from types import SimpleNamespace

    from dali_regaug import train

    reads = []

    class Watched(torch.Tensor):  # counts the host reads of the losses and their sums
        def __float__(self):
            reads.append(1)
            return super().__float__()

        def item(self):
            reads.append(1)
            return super().item()

    steps = 2 * train.LOG_EVERY + 7
    monkeypatch.setattr(train, "train_step",
                        lambda *a, **k: torch.tensor(0.5).as_subclass(Watched))
    postfixes = []
    bar = SimpleNamespace(set_postfix=lambda **kw: postfixes.append(kw), update=lambda: None,
                          close=lambda: None)
    monkeypatch.setattr(train, "_bar", lambda *a: bar)
    batches = [(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long))] * steps
    loader = type("Loader", (), {"epoch": 0, "__len__": lambda self: steps,
                                 "__iter__": lambda self: iter(batches)})()
    cfg = SimpleNamespace(progress=True, label_smoothing=0.0)
    net = SimpleNamespace(train=lambda: None)
    loss, _, images = train._train_epoch(net, loader, None, SimpleNamespace(step=lambda: None),
                                         None, cfg, None, True)
    assert loss == pytest.approx(0.5) and images == 2 * steps
    assert len(postfixes) == 3 and postfixes[-1]["loss"] == "0.500"  # steps 20, 40 and the last
    assert len(reads) == 4  # those three and the epoch's mean
