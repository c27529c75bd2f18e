"""The COCO pipeline on the generated sample: boxes stay on their objects through crop,
flip, resize and erasing; padding and unpadding; the sample dataset itself."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dali_regaug import sample_coco
from dali_regaug.cli import main
from dali_regaug.pipelines import IMAGENET_MEAN, IMAGENET_STD, detection_pipeline
from dali_regaug.torch import unpad

COLOURS = {k: np.array(c, float) for k, (_, c) in sample_coco.CATEGORIES.items()}


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return sample_coco.make(tmp_path_factory.mktemp("coco"), train=24, val=6, progress=None)


def colour_fraction(image, box, label):
    """Fraction of the pixels inside an ltrb box close to ``label``'s colour."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = np.rint(np.asarray(box) * [w, h, w, h]).astype(int)
    patch = image[y0:y1, x0:x1].reshape(-1, 3)
    return (np.abs(patch - COLOURS[int(label)]).max(-1) < 60).mean()


def rgb(images_chw):
    return images_chw.permute(0, 2, 3, 1).numpy() * IMAGENET_STD + IMAGENET_MEAN


def boxes_of(batch):
    images, boxes, labels, count = batch[:4]
    return zip(rgb(images), unpad(boxes, labels, count))


def large(box, size, min_px=8):
    return min(box[2] - box[0], box[3] - box[1]) * size >= min_px


def test_crop_and_flip_keep_boxes_on_their_objects(coco):
    """Objects are constant-colour shapes: after a box-aware crop, a flip and a resize,
    the pixels under every (large enough) box are mostly its category's colour."""
    pipe = detection_pipeline(coco, batch_size=8, size=160, device="cpu", seed=3)
    checked, flipped_seen = 0, 0
    for _ in range(6):
        batch = [torch.from_numpy(o.as_array()) for o in pipe.run()]
        for image, (boxes, labels) in boxes_of(batch):
            for box, label in zip(boxes.numpy(), labels.numpy()):
                if large(box, 160):
                    assert colour_fraction(image, box, label) > 0.25, (box, label)
                    checked += 1
    assert checked > 40
    # the same check fails on mirrored boxes: the test can see a missed flip
    for image, (boxes, labels) in boxes_of(batch):
        for box, label in zip(boxes.numpy(), labels.numpy()):
            mirrored = np.array([1 - box[2], box[1], 1 - box[0], box[3]])
            if large(box, 160) and abs(box[0] + box[2] - 1) > 0.3:
                flipped_seen += colour_fraction(image, mirrored, label) < 0.25
    assert flipped_seen > 0


def test_padded_outputs_and_unpad(coco):
    pipe = detection_pipeline(coco, batch_size=6, size=96, max_boxes=4, device="cpu", seed=1,
                              split="val")
    images, boxes, labels, count, ids = (o.as_array() for o in pipe.run())
    assert images.shape == (6, 3, 96, 96) and boxes.shape == (6, 4, 4) and labels.shape == (6, 4)
    doc = json.loads(sample_coco.annotations(coco, "val").read_text())
    per_image = {im["id"]: 0 for im in doc["images"]}
    for a in doc["annotations"]:
        per_image[a["image_id"]] += 1
    want = [min(per_image[int(i)], 4) for i in ids.ravel()]
    assert count.ravel().tolist() == want
    for b, lab, k in zip(boxes, labels, count.ravel()):
        assert (lab[:k] >= 1).all() and (lab[k:] == -1).all() and (b[k:] == 0).all()
    parts = unpad(torch.from_numpy(boxes), torch.from_numpy(labels), torch.from_numpy(count))
    assert [len(b) for b, _ in parts] == want


def test_bbox_erasing_in_the_pipeline_keeps_boxes_consistent(coco):
    """Object-aware erasing with masks: erased mask pixels get the ignore label, kept boxes
    still sit on their objects, and boxes shrink to what is visible."""
    pipe = detection_pipeline(coco, batch_size=8, size=160, masks="pixel", device="cpu", seed=4,
                              augment="bbox_erasing(mode=object,object_prob=1,fill=0,"
                                      "min_visibility=0.3,shrink=true,mask_fill=255)")
    erased_pixels = 0
    for _ in range(3):
        images, boxes, labels, count, ids, masks = (torch.from_numpy(o.as_array())
                                                    for o in pipe.run())
        erased_pixels += int((masks == 255).sum())
        for image, (b, lab), mask in zip(rgb(images), unpad(boxes, labels, count), masks):
            for box, label in zip(b.numpy(), lab.numpy()):
                if large(box, 160):
                    h, w = mask.shape
                    x0, y0, x1, y1 = np.rint(box * [w, h, w, h]).astype(int)
                    region = mask[y0:y1, x0:x1].numpy()
                    assert ((region == label) | (region == 255)).mean() > 0.25
    assert erased_pixels > 0


def test_cutmix_detection_keeps_boxes_and_masks_on_their_objects(coco):
    """After CutMix with boxes, every box (kept from the image or clipped from the partner)
    still sits on an object of its label, in the pixels and in the pasted masks. A kept
    rectangle (squares, bars) shows at least ``min_visibility`` of its colour; a partner's
    is clipped to the region, so it is all colour."""
    pipe = detection_pipeline(coco, batch_size=8, size=160, masks="pixel", device="cpu", seed=6,
                              augment="cutmix_detection(alpha=1,min_visibility=0.5)")
    checked = 0
    for _ in range(4):
        images, boxes, labels, count, ids, masks = (torch.from_numpy(o.as_array())
                                                    for o in pipe.run())
        for image, (b, lab), mask in zip(rgb(images), unpad(boxes, labels, count), masks):
            for box, label in zip(b.numpy(), lab.numpy()):
                if large(box, 160):
                    least = 0.4 if sample_coco.CATEGORIES[int(label)][0] in ("square", "bar") \
                        else 0.1
                    x0, y0, x1, y1 = np.rint(box * 160).astype(int)
                    assert colour_fraction(image, box, label) > least
                    assert (mask[y0:y1, x0:x1].numpy() == label).mean() > least
                    checked += 1
    assert checked > 30


def test_gridmask_leaves_boxes_alone_and_batches_reach_torch(coco):
    """GridMask after the detection augmentation changes pixels only (the paper's COCO
    setup); the padded batch goes through DALIGenericIterator as dense tensors."""
    from nvidia.dali.plugin.pytorch import DALIGenericIterator

    plain, masked = (detection_pipeline(coco, batch_size=4, size=96, device="cpu", seed=2,
                                        augment=a) for a in ("none", "grid_mask(d=16-32)"))
    for _ in range(2):
        a, b = plain.run(), masked.run()
        for k in (1, 2, 3):  # boxes, labels, count
            assert np.array_equal(a[k].as_array(), b[k].as_array())
        assert not np.array_equal(a[0].as_array(), b[0].as_array())
    fresh = detection_pipeline(coco, batch_size=4, size=96, device="cpu", seed=2,
                               augment="grid_mask(d=16-32)")
    it = DALIGenericIterator(fresh.pipe, fresh.output_names, reader_name="reader")
    batch = next(it)[0]
    assert batch["images"].shape == (4, 3, 96, 96) and batch["boxes"].shape == (4, 100, 4)
    assert len(unpad(batch["boxes"], batch["labels"], batch["count"])) == 4


def test_missing_coco_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train2017"):
        detection_pipeline(tmp_path, batch_size=2, device="cpu")
    with pytest.raises(ValueError, match="mixup mixes samples but would leave their boxes"):
        detection_pipeline(sample_coco.make(tmp_path / "c", train=2, val=1, progress=None),
                           batch_size=2, device="cpu", augment="mixup()")


def test_make_sample_data_coco_writes_exact_boxes(tmp_path, capsys):
    assert main(["make-sample-data", "--coco", "--out", str(tmp_path), "--train-images", "6",
                 "--val-images", "2"]) == 0
    doc = json.loads(sample_coco.annotations(tmp_path, "train").read_text())
    assert len(doc["images"]) == 6 and {c["id"] for c in doc["categories"]} == set(COLOURS)
    for ann in doc["annotations"]:
        info = doc["images"][ann["image_id"] - 1]
        image = np.asarray(Image.open(sample_coco.images(tmp_path) / info["file_name"]), float)
        x, y, w, h = ann["bbox"]
        poly = np.array(ann["segmentation"][0]).reshape(-1, 2)
        assert poly[:, 0].min() >= x - 1 and poly[:, 0].max() <= x + w + 1
        box = np.array([x, y, x + w, y + h]) / np.tile([info["width"], info["height"]], 2)
        assert colour_fraction(image, box, ann["category_id"]) > 0.45
