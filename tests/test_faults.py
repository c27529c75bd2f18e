"""The fault campaign (issue 15): inputs the code cannot interpret raise errors that name
the argument, file, image id or sample; kills and resumes lose no work. Each test was seen
to fail before its fix."""

import numpy as np
import pytest
import torch

from dali_regaug.torch import Loader
from datasets import id_folder

SPEC = "gridmask(d=4-12,p=0.7,ramp=2) + random_erasing(p=0.5) + cutmix(alpha=1,p=0.8)"


@pytest.fixture(scope="module")
def ten(tmp_path_factory):
    """10 images: batches of 4 leave a partial last batch (dropped in training)."""
    return id_folder(tmp_path_factory.mktemp("ten") / "d", n=10, classes=2)


def _loader(root, **kw):
    args = dict(batch_size=4, size=16, device="cpu", seed=5, with_info=True, augment=SPEC,
                num_threads=1)
    return Loader.train_loader(root, **{**args, **kw})


def _run(loader, epochs, stop=None):
    """The usual loop; returns ``(epoch, ids, images, targets)`` per batch, and the loader's
    state after ``stop`` batches (then it stops)."""
    seen = []
    for epoch in range(loader.epoch, epochs):
        loader.set_epoch(epoch)
        for x, y, info in loader:
            seen.append((epoch, info["sample_id"].clone(), x.clone(), [t.clone() for t in y]))
            if len(seen) == stop:
                return seen, loader.state_dict()
    return seen, None


@pytest.fixture(scope="module")
def eleven(tmp_path_factory):
    """11 images: two ranks get uneven shards (5 and 6)."""
    return id_folder(tmp_path_factory.mktemp("eleven") / "d", n=11, classes=2)


@pytest.mark.parametrize("stop", range(0, 7))
@pytest.mark.parametrize("shard", [None, 0, 1], ids=["whole", "rank0of2", "rank1of2"])
def test_resume_at_every_cut_point_gives_the_uninterrupted_stream(request, stop, shard):
    """3 epochs of 2 batches: a state taken after any batch, including the last of an epoch
    and the last of the run, resumes to the same batches with the same epoch numbers; also
    on uneven shards (11 images over 2 ranks: both get two full batches of 2)."""
    ten = request.getfixturevalue("ten" if shard is None else "eleven")
    kw = {} if shard is None else dict(shard_id=shard, num_shards=2, batch_size=2)
    full, _ = _run(_loader(ten, **kw), 3)
    assert len(full) == 6
    if stop:
        head, state = _run(_loader(ten, **kw), 3, stop)
    else:
        head, state = [], _loader(ten, **kw).state_dict()
    resumed = _loader(ten, **kw)
    resumed.load_state_dict(state)
    tail, _ = _run(resumed, 3)
    got = head + tail
    assert [g[0] for g in got] == [f[0] for f in full], "epoch numbers"
    for k, (a, b) in enumerate(zip(full, got)):
        assert torch.equal(a[1], b[1]), f"batch {k}: sample ids"
        assert torch.equal(a[2], b[2]), f"batch {k}: images"
        assert all(torch.equal(s, t) for s, t in zip(a[3], b[3])), f"batch {k}: targets"


@pytest.mark.parametrize("change, saved, given", [
    (dict(batch_size=2), "saved 4", "given 2"),
    (dict(augment="cutout(size=4)"), "saved 'grid_mask", "given 'cutout"),
    (dict(seed=6), "saved 5", "given 6"),
    (dict(shard_id=1, num_shards=2), "rank: saved 0, given 1", "world_size: saved 1, given 2"),
])
def test_resume_refuses_another_stream_naming_both_values(ten, change, saved, given):
    state = _loader(ten).state_dict()
    other = _loader(ten, **change)
    with pytest.raises(ValueError, match="cannot resume") as err:
        other.load_state_dict(state)
    assert saved in str(err.value) and given in str(err.value)


def test_resume_refuses_another_file_list(ten, tmp_path):
    state = _loader(ten).state_dict()
    other = id_folder(tmp_path / "d", n=11, classes=2)
    with pytest.raises(ValueError, match="files: saved '10 files.*given '11 files"):
        _loader(other).load_state_dict(state)


KILLER = """
import io, os, signal, sys
import torch
from dali_regaug import train

real, calls = torch.save, []

def dying(obj, f, *args, **kwargs):
    calls.append(1)
    if len(calls) < 2:
        return real(obj, f, *args, **kwargs)
    buf = io.BytesIO()
    real(obj, buf, *args, **kwargs)
    data = buf.getvalue()[:1000]  # the second save dies a few bytes in, as a preempted job
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            out.write(data)
    else:
        f.write(data)
        f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = dying
train.fit(train.Config(data=sys.argv[1], out=sys.argv[2], epochs=3, batch_size=8, size=16,
                       augment="cutout(size=4)", device="cpu", workers=1, progress=False))
"""


def test_a_kill_during_the_checkpoint_save_loses_only_the_epoch_being_saved(tmp_path):
    """SIGKILL while epoch 1's checkpoint is written: epoch 0's stays whole, and --resume
    finishes the run from it."""
    import subprocess
    import sys

    from dali_regaug.train import Config, fit, load

    data = tmp_path / "data"
    for split in ("train", "val"):
        id_folder(data / split, n=16, classes=2)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(data), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    ck = load(out / "checkpoint.pt")
    assert ck["loader"]["epoch"] == 1  # epoch 0's checkpoint, whole
    history = fit(Config(data=str(data), out=str(out), epochs=3, batch_size=8, size=16,
                         augment="cutout(size=4)", device="cpu", workers=1, progress=False,
                         resume=str(out / "checkpoint.pt")))
    assert [h["epoch"] for h in history] == [1, 2]
    assert load(out / "checkpoint.pt")["loader"]["epoch"] == 3
    assert not list(out.glob(".*.tmp"))  # the killed save's temporary file is gone too


def test_resume_from_a_truncated_file_names_it(tmp_path):
    from dali_regaug.train import load

    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="checkpoint.pt.*cannot be read"):
        load(bad)


# -- labels, counts and classes ------------------------------------------------------------

def _detection_ops():
    from dali_regaug.ops.bbox_erasing import BboxErasing
    from dali_regaug.ops.cutmix_detection import CutMixDetection

    return [lambda s, b, lab: BboxErasing(seed=0).sample_batch(s, b, lab),
            lambda s, b, lab: CutMixDetection(seed=0).sample_batch(
                s, [np.int64(1), np.int64(0)], b, lab)]


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


# -- specs -----------------------------------------------------------------------------------

def _spec_args():
    """Each operator of the spec grammar and the arguments it takes there."""
    import inspect

    from dali_regaug import fn as rfn
    from dali_regaug import spec

    skip = {"images", "labels", "boxes", "masks", "polygons", "vertices", "layout",
            "sample_ids", "crops", "flips", "bank", "return_params", "name"}
    return {name: [p for p in inspect.signature(getattr(rfn, name)).parameters if p not in skip]
            for name in spec.MASKS + spec.MIXING + spec.BOXES + spec.GUIDED}


def _spec_values():
    from hypothesis import strategies as st

    from dali_regaug import schedule

    num = st.one_of(st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=64))
    word = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True).filter(
        lambda w: w not in ("true", "false", "inf", "nan", "none"))
    ramp = st.builds(schedule.Linear, st.floats(0, 1), st.integers(1, 500), st.floats(0, 1))
    return st.one_of(num, st.booleans(), word, st.tuples(num, num),
                     st.lists(num, min_size=1, max_size=4).map(tuple), ramp)


def test_describe_round_trips_through_parse_for_every_operator_and_argument():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dali_regaug import schedule, spec

    table = _spec_args()

    @st.composite
    def configs(draw):
        ops = []
        for name in draw(st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=3)):
            keys = draw(st.lists(st.sampled_from(table[name]), unique=True, max_size=6))
            kw = {k: draw(_spec_values()) for k in keys}
            if not isinstance(kw.get("prob"), (schedule.Linear, type(None))):
                kw["prob"] = draw(st.one_of(st.floats(0, 1), st.integers(0, 1)))
            ops.append((name, {k: v for k, v in kw.items()
                               if k == "prob" or not isinstance(v, schedule.Linear)}))
        mixing = [i for i, (n, _) in enumerate(ops) if n in spec.MIXING]
        return [op for i, op in enumerate(ops) if i not in mixing[1:]]

    @settings(max_examples=300, deadline=None)
    @given(configs())
    def check(cfg):
        text = spec.describe(cfg)
        assert spec.parse(text) == spec.parse(cfg), text

    check()


def test_every_operator_argument_is_covered_by_the_round_trip():
    """All arguments of every operator reach the round-trip test (none is filtered)."""
    table = _spec_args()
    assert set(table) >= {"grid_mask", "random_erasing", "cutout", "cutmix", "mixup", "mix",
                          "bbox_erasing", "keep_cutout", "keep_paste", "keep_cutmix",
                          "cam_erasing"}
    assert "fill" in table["grid_mask"] and "tau" in table["keep_paste"]


@pytest.mark.parametrize("text", ["gridmask(p=0.5,p=0.7)", "gridmask(p=0.5,prob=0.7)",
                                  "cutout(size=4,size=8)"])
def test_a_repeated_argument_is_an_error(text):
    from dali_regaug import spec

    with pytest.raises(ValueError, match="twice"):
        spec.parse(text)


# -- the saliency bank -------------------------------------------------------------------------

def test_the_bank_leaves_no_files_and_closes_twice(tmp_path):
    import glob
    import os
    import tempfile

    from dali_regaug.saliency import SaliencyBank

    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "*psm_*")))
    bank = SaliencyBank(4, 8)
    other = SaliencyBank.attach(bank.name)
    other.update([0], np.ones((1, 8, 8), np.float32), [[0, 0, 1, 1]], [0])
    other.close()
    other.close()
    assert bank.fill_ratio() == 0.25
    bank.close()
    bank.close()  # a second close does nothing
    with pytest.raises(RuntimeError, match="is closed"):
        bank.fill_ratio()
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "*psm_*"))) == before
    assert not os.path.exists(os.path.join("/dev/shm", bank.name.lstrip("/")))


def test_a_map_beyond_float16_is_skipped_like_nan():
    from dali_regaug.saliency import SaliencyBank

    with SaliencyBank(3, 8) as bank:
        maps = np.ones((3, 8, 8), np.float32)
        maps[1, 0, 0] = 1e6  # finite, but inf in the bank's float16
        maps[2, 0, 0] = np.nan
        bank.update([0, 1, 2], maps, np.tile([0, 0, 1, 1.], (3, 1)), np.zeros(3))
        _, present = bank.read([0, 1, 2], np.tile([0, 0, 1, 1.], (3, 1)), np.zeros(3), (8, 8))
        assert present.tolist() == [True, False, False] and bank.skipped == 2
        assert np.isfinite(bank.maps.astype(np.float32)).all()


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


# -- images the operators cannot work on ----------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 8, 3), (8, 0, 3), (8, 8, 0)])
@pytest.mark.parametrize("kind", ["mix", "grid_mask", "cutout"])
def test_empty_images_are_refused_naming_the_sample(kind, shape):
    from dali_regaug.ops.erasing import Cutout
    from dali_regaug.ops.grid_mask import GridMask
    from dali_regaug.ops.mixing import Mix

    batch = [np.zeros((8, 8, 3), np.float32), np.zeros(shape, np.float32)]
    with pytest.raises(ValueError, match=r"sample 1 has shape \(\d, \d, \d\); expected 3-D"):
        if kind == "mix":
            Mix(seed=0).run_batch(batch, [np.int64(1), np.int64(0)])
        else:
            (GridMask if kind == "grid_mask" else lambda **k: Cutout(size=2, **k))(
                seed=0).run_batch(batch)


# -- fills -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fill", [float("inf"), -float("inf"), 1e39, (0.0, float("inf"), 0.0)])
def test_a_fill_no_image_type_can_hold_is_refused_when_built(fill):
    from dali_regaug.ops.grid_mask import GridMask

    with pytest.raises(ValueError, match="fill=.*finite"):
        GridMask(fill=fill, seed=0)


@pytest.mark.parametrize("dtype, fill, found", [
    (np.float16, 1e6, "cannot be stored in float16"),
    (np.uint8, 300.0, "cannot be stored in uint8"),
    (np.uint8, -1.0, "cannot be stored in uint8"),
    (np.uint8, 0.5, "cannot be stored in uint8"),
    (np.uint8, (0, 0, 256), "cannot be stored in uint8"),
])
@pytest.mark.parametrize("backend", [None, "emulator"])
def test_a_fill_the_images_type_cannot_hold_is_refused(dtype, fill, found, backend):
    from dali_regaug.ops.erasing import Cutout

    op = Cutout(size=4, fill=fill, seed=0)
    images = np.zeros((2, 8, 8, 3), dtype)
    with pytest.raises(ValueError, match=found):
        op.apply(images, op.draw(np.full((2, 2), 8)), backend=backend)


@pytest.mark.parametrize("dtype, fill", [(np.float16, 60000.0), (np.uint8, 255),
                                         (np.float32, 1e6), (np.uint8, (0, 128, 255))])
def test_a_representable_fill_is_written_exactly(dtype, fill):
    from dali_regaug.ops.erasing import Cutout

    op = Cutout(size=8, fill=fill, seed=0)
    p = op.draw(np.full((1, 2), 8))
    y0, x0, y1, x1 = p["boxes"][0, 0]
    out = op.apply(np.zeros((1, 8, 8, 3), dtype), p)[0, y0:y1, x0:x1]
    assert out.size and (out == np.broadcast_to(np.asarray(fill, dtype), out.shape)).all()


def test_random_fill_cost_follows_the_erased_pixels_not_the_image():
    """1,617 erased pixels of a 4000x4000 image: only they are hashed and written (the
    old per-shape table hashed all 16 M pixels and kept 384 MB per shape), and mixed
    shapes give the same noise as one shape."""
    import tracemalloc

    from dali_regaug.ops.erasing import RandomErasing

    op = RandomErasing(prob=1.0, area=(1e-4, 1e-4), seed=0)
    big = np.zeros((1, 4000, 4000, 3), np.float32)
    p = op.draw(np.array([[4000, 4000]]))
    tracemalloc.start()
    op.apply(big, p, out=big)  # in place
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    y0, x0, y1, x1 = p["boxes"][0, 0]
    assert (big[0, y0:y1, x0:x1] != 0).all() and (big != 0).sum() == (y1 - y0) * (x1 - x0) * 3
    assert peak < 8 * 2**20  # the image alone is 192 MB
    shapes = [(40, 50), (41, 50), (40, 50), (30, 70)]
    ragged = [np.zeros((h, w, 3), np.float32) for h, w in shapes]
    op = RandomErasing(prob=1.0, seed=0)
    p = op.draw(np.array(shapes))
    assert p["boxes"][:, 0, 2].all()
    for x, y, rec in zip(op.apply(ragged, p), ragged, p):
        alone = op.apply([y], rec[None])[0]
        assert np.array_equal(x, alone)


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


# -- layouts ----------------------------------------------------------------------------------

def _layout_pipe(build, layout="HWC", shape=(32, 32, 3)):
    """A CPU pipeline over fixed random float images given to ``build`` with ``layout``
    (None: no layout)."""
    from nvidia.dali import fn as dfn
    from nvidia.dali import pipeline_def

    data = [np.random.default_rng(i).random(shape, dtype=np.float32) for i in range(2)]

    @pipeline_def(batch_size=2, num_threads=1, device_id=None, seed=3)
    def pipe():
        kw = {} if layout is None else {"layout": layout}
        return build(dfn.external_source(source=lambda: data, batch=True, **kw))

    p = pipe()
    p.build()
    return p, data


def test_chw_input_is_masked_as_chw_without_being_told():
    """crop_mirror_normalize's usual CHW output: GridMask masks the same pixels in every
    channel (squares), as the NumPy reference on CHW data with its sampled parameters."""
    from nvidia.dali import fn as dfn
    from nvidia.dali import types

    from dali_regaug import fn as rfn
    from dali_regaug import registry

    def build(x):
        chw = dfn.crop_mirror_normalize(x, dtype=types.FLOAT, output_layout="CHW")
        out, params = rfn.grid_mask(chw, d=8, fill=0.0, return_params=True, name="gm")
        return chw, out, params

    pipe, _ = _layout_pipe(build)
    chw, out, params = pipe.run()
    assert out.layout() == "CHW"
    op = registry.ops(pipe)["gm"]
    assert op.layout == "CHW"
    want = op.apply([np.asarray(t) for t in chw], rfn.decode_params(op, params))
    for got, ref in zip(out, want):
        got = np.asarray(got)
        assert np.array_equal(got, ref)
        dropped = got == 0
        assert (dropped == dropped[:1]).all() and 0 < dropped.mean() < 1


def test_the_output_keeps_the_inputs_layout_for_the_next_dali_operator():
    from nvidia.dali import fn as dfn

    from dali_regaug import fn as rfn

    pipe, _ = _layout_pipe(lambda x: dfn.resize(rfn.cutout(x, size=4), size=[16, 16]),
                           shape=(32, 24, 3))
    out, = pipe.run()
    assert out.layout() == "HWC" and np.asarray(out[0]).shape == (16, 16, 3)


def test_an_explicit_layout_that_disagrees_with_the_input_names_both():
    from dali_regaug import fn as rfn

    with pytest.raises(ValueError, match="layout='CHW' disagrees with the layout of images, "
                                         "'HWC'"):
        _layout_pipe(lambda x: rfn.grid_mask(x, layout="CHW"))


def test_an_input_without_a_layout_asks_for_one():
    from dali_regaug import fn as rfn

    with pytest.raises(ValueError, match="cannot tell the layout.*pass layout='HWC' or "
                                         "layout='CHW'"):
        _layout_pipe(lambda x: rfn.random_erasing(x), layout=None)
    pipe, data = _layout_pipe(lambda x: rfn.random_erasing(x, layout="HWC"), layout=None)
    assert np.asarray(pipe.run()[0][0]).shape == data[0].shape  # told: it runs


def test_a_layout_the_graph_could_not_see_is_checked_when_the_batch_arrives():
    """A user's python_function labels HWC data; the operator was told CHW: the first batch
    is refused, naming both layouts, instead of being masked along the wrong axes."""
    from nvidia.dali import fn as dfn

    from dali_regaug import fn as rfn

    def build(x):
        relabelled = dfn.python_function(x, function=lambda a: a, output_layouts="HWC")
        return rfn.grid_mask(relabelled, layout="CHW")

    pipe, _ = _layout_pipe(build)
    with pytest.raises(RuntimeError, match="images arrive with layout 'HWC', but the operator "
                                           "was built for 'CHW'"):
        pipe.run()


@pytest.mark.parametrize("kind", ["augmented", "masks"])
def test_partner_and_mask_inputs_in_another_layout_are_refused(kind):
    from nvidia.dali import fn as dfn
    from nvidia.dali import types

    from dali_regaug import fn as rfn
    from dali_regaug.saliency import SaliencyBank

    bank = SaliencyBank(4, 8)
    try:
        def build(x):
            ids = dfn.constant(idata=0, dtype=types.INT64)
            crops = dfn.constant(fdata=[0.0, 0.0, 1.0, 1.0], shape=[4])
            flips = dfn.constant(idata=0)
            other = dfn.transpose(x, perm=[2, 0, 1])  # CHW
            if kind == "augmented":
                return rfn.keep_paste(x, ids, crops, flips, bank=bank, size=4, augmented=other)
            boxes = dfn.constant(fdata=[0.1, 0.1, 0.5, 0.5], shape=[1, 4])
            labels = dfn.constant(idata=[1], shape=[1])
            return rfn.bbox_erasing(x, boxes, labels, masks=other, mask_fill=255)[0]

        with pytest.raises(ValueError, match=f"disagrees with the layout of {kind}, 'CHW'"):
            _layout_pipe(build)
    finally:
        bank.close()


@pytest.mark.parametrize("brightness, contrast", [(0.0, 0.4), (0.4, 0.0), (0.0, 0.0)])
def test_image_level_runs_with_either_factor_at_zero(brightness, contrast):
    """A factor with no range is the constant 1 (DALI refuses the empty range [1, 1))."""
    from dali_regaug import fn as rfn

    pipe, data = _layout_pipe(lambda x: rfn.image_level(x, rotate=0.0, brightness=brightness,
                                                        contrast=contrast))
    out = np.asarray(pipe.run()[0][0])
    if brightness == contrast == 0:
        assert np.array_equal(out, data[0])
    else:
        assert out.shape == data[0].shape and np.isfinite(out).all()


def test_masks_of_another_size_than_their_images_are_refused():
    from nvidia.dali import fn as dfn

    from dali_regaug import fn as rfn

    def build(x):
        masks = dfn.external_source(source=lambda: [np.zeros((8, 8, 1), np.uint8)] * 2,
                                    batch=True, layout="HWC")
        boxes = dfn.constant(fdata=[0.1, 0.1, 0.9, 0.9], shape=[1, 4])
        labels = dfn.constant(idata=[1], shape=[1])
        return rfn.bbox_erasing(x, boxes, labels, masks=masks, mask_fill=255, prob=1.0)[3]

    pipe, _ = _layout_pipe(build, shape=(16, 16, 3))
    with pytest.raises(RuntimeError, match=r"masks: sample 0 is \(8, 8\) but its image is "
                                           r"\(16, 16\)"):
        pipe.run()


def test_erasing_clips_boxes_to_a_smaller_target_as_the_mask_path_does():
    from dali_regaug.ops import rects
    from dali_regaug.ops.erasing import eraser

    op = eraser(1, 255)
    p = np.zeros(1, op.params_dtype)
    p["count"], p["boxes"][0, 0] = 1, (2, 6, 5, 10)  # beyond an 8-wide target
    flat, _ = rects.dropped(p, 8, 8, False)
    assert np.array_equal(np.sort(flat), np.flatnonzero(rects.covered(p, 8, 8)))


def test_describe_refuses_what_would_read_back_otherwise_and_reads_numpy_plainly():
    from dali_regaug import schedule, spec

    for bad in ("true", "1-2", "0.5", "[a]"):
        with pytest.raises(ValueError, match="cannot be written"):
            spec.describe({"grid_mask": {"fill": bad}})
    with pytest.raises(ValueError, match="cannot be written"):
        spec.describe({"grid_mask": {"r": float("nan")}})
    cfg = {"grid_mask": {"prob": schedule.Constant(0.5), "d": np.array([4, 12]),
                         "r": np.float32(0.25), "fill": None}}
    assert spec.describe(cfg) == "grid_mask(prob=0.5,d=4-12,r=0.25)"
