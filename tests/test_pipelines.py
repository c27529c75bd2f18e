"""Training and validation pipelines: what each output means, sharding, and bad input."""

import numpy as np
import pytest
import torch

from dali_regaug.pipelines import resolve_shard, scan, train_pipeline
from dali_regaug.torch import Loader, mixed_cross_entropy, soft_targets
from datasets import gradient_image, id_folder, pixels


def _batch(tl):
    return np.stack([np.asarray(tl.at(i)) for i in range(len(tl))])


def test_crop_window_and_flip_locate_the_view_in_the_original_image(tmp_path):
    """Each pixel of the source holds its own position, so the output shows where it came
    from: its mean position must be the crop window's centre, its direction the flip."""
    h, w = 240, 360
    files = [str(gradient_image(tmp_path / f"{i}.png", h, w)) for i in range(8)]
    pipe = train_pipeline(files, batch_size=8, size=32, device="cpu", seed=3, area=(0.2, 0.7))
    out = dict(zip(pipe.output_names, pipe.run()))
    px = pixels(_batch(out["images"]))
    crop, flip = _batch(out["crop"]), _batch(out["flip"]).reshape(-1)
    assert ((crop[:, :2] >= 0) & (crop[:, 2:] <= 1) & (crop[:, 2:] > crop[:, :2])).all()
    cy = ((crop[:, 0] + crop[:, 2]) / 2 * h - 0.5) * 255 / (h - 1)
    cx = ((crop[:, 1] + crop[:, 3]) / 2 * w - 0.5) * 255 / (w - 1)
    np.testing.assert_allclose(px[..., 0].mean((1, 2)), cx, atol=3)
    np.testing.assert_allclose(px[..., 1].mean((1, 2)), cy, atol=3)
    rightward = px[:, :, -1, 0].mean(1) > px[:, :, 0, 0].mean(1)
    assert 0 < flip.sum() < 8 and np.array_equal(rightward, flip == 0)


def test_sample_ids_and_labels_follow_the_files(tmp_path):
    root = id_folder(tmp_path / "d", n=12, classes=3)
    ds = scan(root)
    pipe = train_pipeline(root, batch_size=4, size=16, device="cpu", seed=1)
    for _ in range(3):
        out = dict(zip(pipe.output_names, pipe.run()))
        ids, labels = _batch(out["sample_id"]).reshape(-1), _batch(out["labels"]).reshape(-1)
        colour = np.rint(pixels(_batch(out["images"]))[:, 8, 8])
        assert np.array_equal(colour[:, 0], ids)  # the image is the one of its sample_id
        assert np.array_equal(labels, np.array(ds.labels)[ids])
        assert np.array_equal(colour[:, 1], 40 * labels)


def test_val_pipeline_is_a_centre_crop_of_every_sample_in_order(tmp_path):
    root = id_folder(tmp_path / "d", n=10, classes=2)
    loader = Loader.val_loader(root, batch_size=4, size=24, device="cpu")
    seen = [(x.shape, y) for x, y in loader]
    assert len(seen) == len(loader) == 3
    assert all(s[1:] == (3, 24, 24) for s, _ in seen)
    assert torch.cat([y for _, y in seen]).tolist() == scan(root).labels


def test_shards_default_to_the_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert resolve_shard() == (2, 4)
    assert resolve_shard(0, 1) == (0, 1)
    with pytest.raises(ValueError, match="shard_id=4"):
        resolve_shard(4, 4)


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train_pipeline(tmp_path / "nowhere", batch_size=2, device="cpu")
    (tmp_path / "d" / "cats").mkdir(parents=True)
    (tmp_path / "e").mkdir()
    with pytest.raises(ValueError, match="has no class sub-folders"):
        train_pipeline(tmp_path / "e", batch_size=2, device="cpu")
    with pytest.raises(ValueError, match="cats.*has no images"):
        train_pipeline(tmp_path / "d", batch_size=2, device="cpu")


def test_more_shards_than_images_or_a_batch_larger_than_a_shard_is_refused(tmp_path):
    root = id_folder(tmp_path / "d", n=5, classes=1)
    with pytest.raises(ValueError, match="num_shards=6 is larger than the dataset"):
        train_pipeline(root, batch_size=1, device="cpu", shard_id=0, num_shards=6)
    with pytest.raises(ValueError, match="batch_size=4 is larger than a shard"):
        train_pipeline(root, batch_size=4, device="cpu", shard_id=0, num_shards=2)


def test_a_corrupt_image_is_named_or_skipped_on_request(tmp_path):
    root = id_folder(tmp_path / "d", n=6, classes=2)
    bad = root / "c1" / "0005.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    loader = Loader.train_loader(root, batch_size=2, size=16, device="cpu", seed=0)
    with pytest.raises(RuntimeError, match="0005.png"):
        for _ in range(3):
            list(loader)
    with pytest.warns(UserWarning, match="skipping 1 corrupt image.*0005.png"):
        loader = Loader.train_loader(root, batch_size=2, size=16, device="cpu",
                                     skip_corrupt=True)
    assert len(loader.dataset) == 5 and len(list(loader)) == 2


def test_mixed_up_batch_sizes_are_named():
    logits = torch.zeros(4, 3)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="y_b has 3 entries for a batch of 4"):
        mixed_cross_entropy(logits, y, y[:3], torch.ones(4))
    with pytest.raises(ValueError, match="lam has 2 entries"):
        mixed_cross_entropy(logits, y, y, torch.ones(2))
    with pytest.raises(ValueError, match="y_a has 4 entries for a batch of 2"):
        soft_targets(y, y[:2], torch.ones(2), 3)
