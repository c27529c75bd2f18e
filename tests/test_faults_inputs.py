"""Fault campaign (issue 15), the data a user feeds in: counts, classes, bad files and COCO
edge boxes are named, never guessed at; sample data rebuilds cleanly."""

import numpy as np
import pytest

from dali_regaug.torch import Loader
from datasets import id_folder


# -- labels, counts and classes ------------------------------------------------------------

def _detection_ops():
    from dali_regaug.ops.bbox_erasing import BboxErasing
    from dali_regaug.ops.cutmix_detection import CutMixDetection

    return [lambda s, b, lab: BboxErasing(seed=0).sample_named(
                {"shapes": s, "boxes": b, "labels": lab}),
            lambda s, b, lab: CutMixDetection(seed=0).sample_named(
                {"shapes": s, "boxes": b, "labels": lab,
                 "partners": [np.int64(1), np.int64(0)]})]


@pytest.mark.parametrize("op", range(2), ids=["bbox_erasing", "cutmix_detection"])
@pytest.mark.parametrize("labels, found", [(2, "3 boxes and 2 labels"),
                                           (4, "3 boxes and 4 labels")])
def test_box_and_label_counts_must_agree(op, labels, found):
    shapes = [(32, 32, 3)] * 2
    boxes = [np.tile(np.float32([0.1, 0.1, 0.5, 0.5]), (3, 1)), np.zeros((0, 4), np.float32)]
    lab = [np.arange(labels, dtype=np.int32), np.zeros(0, np.int32)]
    with pytest.raises(ValueError, match=f"sample 0 of the batch has {found}"):
        _detection_ops()[op](shapes, boxes, lab)


def test_boxes_that_are_not_rows_of_four_are_refused():
    boxes = [np.zeros((2, 6), np.float32)]  # 12 values: reshaping would make 3 boxes
    with pytest.raises(ValueError, match=r"boxes of sample 0 of the batch have shape \(2, 6\)"):
        _detection_ops()[0]([(32, 32, 3)], boxes, [np.zeros(2, np.int32)])


def _classes(root, train, val, n):
    """``n`` images in ``root/train/<class>`` and ``root/val/<class>`` per class named."""
    from PIL import Image

    for split, names in (("train", train), ("val", val)):
        for name in names:
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (20, 20), (9 * i, 0, 0)).save(root / split / name / f"{i}.png")


def test_validation_labels_index_the_training_classes(tmp_path):
    """val/ without one class: its labels still name the same classes as train's."""
    from dali_regaug.pipelines import scan

    _classes(tmp_path, ["a", "b", "c"], ["a", "c"], 2)
    train = scan(tmp_path / "train")
    with pytest.warns(UserWarning, match="no folder for 1 of the 3 classes: b"):
        val = scan(tmp_path / "val", classes=train.classes)
    assert [train.classes[k] for k in val.labels] == ["a", "a", "c", "c"]
    _classes(tmp_path, [], ["zebra"], 1)
    with pytest.raises(ValueError, match="classes the index does not know: zebra"):
        scan(tmp_path / "val", classes=train.classes)


def test_train_scores_validation_against_the_training_classes(tmp_path, monkeypatch):
    from dali_regaug import train as train_mod

    _classes(tmp_path, ["a", "b", "c"], ["a", "c"], 4)
    seen = {}
    real = train_mod.Loader.val_loader

    def spy(*args, **kwargs):
        loader = real(*args, **kwargs)
        seen["val"] = loader.dataset
        return loader

    monkeypatch.setattr(train_mod.Loader, "val_loader", spy)
    with pytest.warns(UserWarning, match="no folder for 1 of the 3 classes"):
        train_mod.fit(train_mod.Config(data=str(tmp_path), out=str(tmp_path / "o"), epochs=1,
                                       batch_size=4, size=16, augment="none", device="cpu",
                                       workers=1, progress=False))
    assert seen["val"].classes == ["a", "b", "c"] and set(seen["val"].labels) == {0, 2}


def test_make_sample_data_again_with_smaller_counts_rebuilds_cleanly(tmp_path):
    from dali_regaug import sample_data

    sample_data.make(tmp_path, train_per_class=3, val_per_class=2, progress=None)
    sample_data.make(tmp_path, train_per_class=1, val_per_class=1, progress=None)
    classes = len(sample_data.sources())
    assert len(list((tmp_path / "train").glob("*/*.JPEG"))) == classes
    assert len(list((tmp_path / "val").glob("*/*.JPEG"))) == classes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample-data.json", "train", "val"]


def test_make_sample_data_recovers_from_a_kill_during_its_swap(tmp_path, monkeypatch):
    from pathlib import Path

    from dali_regaug import sample_data

    sample_data.make(tmp_path, train_per_class=2, val_per_class=1, progress=None)
    real = Path.rename

    def rename(self, dst):  # the swap dies after moving train, before val
        if self.name == "val":
            raise KeyboardInterrupt
        return real(self, dst)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        sample_data.make(tmp_path, train_per_class=1, val_per_class=1, progress=None)
    monkeypatch.undo()
    sample_data.make(tmp_path, train_per_class=1, val_per_class=1, progress=None)
    classes = len(sample_data.sources())
    assert len(list((tmp_path / "val").glob("*/*.JPEG"))) == classes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample-data.json", "train", "val"]


def test_make_sample_data_never_touches_folders_it_did_not_make(tmp_path):
    from dali_regaug import sample_data

    (tmp_path / "train" / "mine").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="did not"):
        sample_data.make(tmp_path, train_per_class=1, val_per_class=1, progress=None)
    assert (tmp_path / "train" / "mine").is_dir()


# -- COCO edge boxes --------------------------------------------------------------------------

@pytest.fixture
def coco_edges(tmp_path, monkeypatch):
    """A small COCO set whose first image has a box 0.6 px past its right edge and whose
    second has one 5 px past its bottom."""
    import json

    from dali_regaug import sample_coco

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = sample_coco.make(tmp_path / "coco", train=8, val=2, progress=None)
    path = sample_coco.annotations(root, "train")
    data = json.loads(path.read_text())
    size = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    first, second = data["annotations"][0], next(
        a for a in data["annotations"] if a["image_id"] != data["annotations"][0]["image_id"])
    w, _ = size[first["image_id"]]
    first["bbox"] = [w - 20.0, 2.0, 20.6, 10.0]
    _, h = size[second["image_id"]]
    second["bbox"] = [1.0, h - 10.0, 8.0, 15.0]
    path.write_text(json.dumps(data))
    return root, first, second


def test_coco_boxes_past_the_edge_are_clipped_within_a_pixel_and_skipped_beyond(coco_edges):
    from dali_regaug.pipelines import detection_pipeline

    root, first, second = coco_edges
    with pytest.warns(UserWarning, match=f"image {second['image_id']}, annotation "
                                         f"{second['id']}"):
        pipe = detection_pipeline(root, batch_size=4, size=64, device="cpu", seed=0,
                                  num_threads=1)
    assert pipe.box_report.clipped == 1
    assert [s[:2] for s in pipe.box_report.skipped] == [[second["image_id"], second["id"]]]
    for _ in range(3):  # DALI's crop used to abort on its bounds assert
        out = dict(zip(pipe.output_names, pipe.run()))
        assert (np.stack([np.asarray(b) for b in out["boxes"]]) <= 1).all()


def test_coco_boxes_with_nothing_inside_or_no_extent_are_skipped_not_clipped(tmp_path):
    import json

    from dali_regaug.pipelines import coco_boxes

    data = {"images": [{"id": 1, "width": 100, "height": 50}], "annotations": [
        {"id": 10, "image_id": 1, "bbox": [100.5, 10, 0.3, 5]},    # outside, within 1 px
        {"id": 11, "image_id": 1, "bbox": [-0.8, 10, 0.5, 5]},
        {"id": 12, "image_id": 1, "bbox": [10, 10, -4, 5]},        # negative width
        {"id": 13, "image_id": 1, "bbox": [10, float("nan"), 4, 5]},
        {"id": 14, "image_id": 1, "bbox": [99.5, 10, 1.2, 5]}]}    # clipped to 0.5 px wide
    path = tmp_path / "instances_train2017.json"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="skipped 4 boxes"):
        fixed, report = coco_boxes.checked(path, cache=tmp_path / "cache")
    assert [s[1] for s in report.skipped] == [10, 11, 12, 13] and report.clipped == 1
    kept = json.loads(fixed.read_text())["annotations"]
    assert [a["id"] for a in kept] == [14] and kept[0]["bbox"] == [99.5, 10.0, 0.5, 5.0]


def test_coco_boxes_beyond_the_tolerance_raise_when_strict(coco_edges):
    from dali_regaug.pipelines import detection_pipeline

    root, _, second = coco_edges
    with pytest.raises(ValueError, match=f"image {second['image_id']}, annotation "
                                         f"{second['id']}.*5.00 px past"):
        detection_pipeline(root, batch_size=4, size=64, device="cpu", strict_boxes=True)


# -- bad files -----------------------------------------------------------------------------

def _bad_files(folder):
    """One file of each kind the decoder refuses, named as JPEGs as real datasets have."""
    from PIL import Image

    pixels = (np.arange(40 * 48 * 3) % 251).astype(np.uint8).reshape(40, 48, 3)
    Image.fromarray(pixels).save(folder / "gif.jpg", format="GIF")  # PIL reads it; DALI not
    Image.fromarray(pixels).save(folder / "whole.jpg")
    data = (folder / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[:len(data) // 2])
    (folder / "whole.jpg").unlink()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_bytes(b"not an image")
    return [str(folder / f) for f in ("empty.jpg", "gif.jpg", "text.jpg", "truncated.jpg")]


@pytest.fixture
def bad_folder(tmp_path):
    root = id_folder(tmp_path / "d", n=8, classes=2)
    return root, _bad_files(root / "c1")


def test_the_corruption_check_refuses_exactly_what_the_decoder_refuses(bad_folder):
    from dali_regaug.pipelines import find_corrupt, scan

    root, bad = bad_folder
    files = scan(root).files
    assert find_corrupt(files) == bad
    assert len(files) == 8 + len(bad)


def test_training_on_a_bad_file_names_it_and_skip_corrupt_leaves_all_out(bad_folder):
    root, bad = bad_folder
    loader = Loader.train_loader(root, batch_size=2, size=16, device="cpu", seed=0)
    with pytest.raises(RuntimeError, match="cannot decode 4 image") as err:
        for _ in range(3):
            list(loader)
    assert all(f in str(err.value) for f in bad)
    with pytest.warns(UserWarning, match="skipping 4 corrupt image"):
        loader = Loader.train_loader(root, batch_size=2, size=16, device="cpu",
                                     skip_corrupt=True)
    assert len(loader.dataset) == 8 and len(list(loader)) == 4


@pytest.mark.parametrize("which", [0, 1], ids=["empty", "gif"])
def test_preview_of_a_bad_file_names_it(bad_folder, tmp_path, capsys, which):
    from dali_regaug.cli import main

    root, bad = bad_folder
    good = sorted(str(p) for p in (root / "c0").iterdir())[:2]
    assert main(["preview", good[0], good[1], bad[which], "--size", "32", "--out",
                 str(tmp_path / "p.png"), "--device", "cpu"]) == 1
    assert f"cannot decode 1 image(s): {bad[which]}" in capsys.readouterr().err
