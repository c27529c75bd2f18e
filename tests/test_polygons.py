"""Instance masks as polygons: clipping is exact at pixel level, rasterization is
pycocotools' bit for bit, and in the COCO pipeline every instance stays on its object and
inside its box through crop, flip, object-aware erasing and CutMix."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dali_regaug import sample_coco
from dali_regaug.ops import polygons
from dali_regaug.pipelines import detection_pipeline
from dali_regaug.torch import instance_masks, unpad
from tests.test_detection import COLOURS, rgb

SIZE = 64


def raster(polys, verts, count, size=SIZE):
    return instance_masks(torch.as_tensor(np.asarray(polys, np.int64))[None],
                          torch.as_tensor(np.asarray(verts, np.float32))[None],
                          torch.tensor([count]), size)[0].numpy()


def centres_inside(polys, verts, count, size=SIZE):
    """Oracle for clipping: ``(count, size, size)`` pixels whose centre is inside one of
    the instance's polygons (even-odd rule), by brute force."""
    c = (np.arange(size) + 0.5) / size
    py, px = np.meshgrid(c, c, indexing="ij")
    out = np.zeros((count, size, size), bool)
    verts = np.asarray(verts, np.float64)
    for inst, a, b in np.asarray(polys).reshape(-1, 3):
        (x0, y0), (x1, y1) = verts[a:b].T[:, None, None, :], np.roll(verts[a:b], -1, 0).T[
            :, None, None, :]
        cross = (y0 > py[..., None]) != (y1 > py[..., None])
        with np.errstate(divide="ignore", invalid="ignore"):
            x = x0 + (py[..., None] - y0) * (x1 - x0) / (y1 - y0)
        out[inst] |= (cross & (px[..., None] < x)).sum(-1) % 2 == 1
    return out


def star(rs, n):
    """A random star-shaped (often concave) polygon in fractions, partly outside [0, 1]."""
    t = np.sort(rs.uniform(0, 2 * np.pi, n))
    r = rs.uniform(0.05, 0.6, n)
    return np.stack([0.5 + r * np.cos(t), 0.5 + r * np.sin(t)], 1) + rs.uniform(-0.3, 0.3, 2)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), parts=st.lists(st.integers(3, 12), min_size=1, max_size=4))
def test_clip_keeps_exactly_the_pixels_inside_the_rectangle(seed, parts):
    """Rasterizing a clipped instance gives the instance's pixels whose centres lie in the
    rectangle: Sutherland-Hodgman on concave, multi-part instances loses and adds nothing."""
    rs = np.random.default_rng(seed)
    verts = np.concatenate([star(rs, n) for n in parts]).astype(np.float32)
    end = np.cumsum(parts)
    polys = np.stack([np.arange(len(parts)) % 2, end - parts, end], 1)
    x0, y0 = rs.integers(0, SIZE - 1, 2)
    x1, y1 = rs.integers(x0 + 1, SIZE + 1), rs.integers(y0 + 1, SIZE + 1)
    rect = np.array([x0, y0, x1, y1]) / SIZE
    out_p, out_v, kept = polygons.clip(polys, verts, np.tile(rect, (len(parts), 1)))
    want = centres_inside(polys, verts, 2)
    inside = np.zeros((SIZE, SIZE), bool)
    inside[y0:y1, x0:x1] = True
    got = centres_inside(out_p, out_v, 2)
    assert np.array_equal(got, want & inside), (rect, np.argwhere(got != (want & inside)))
    assert len(out_p) == kept.sum() and out_p[-1, 2] == len(out_v) if len(out_p) else True


def test_instance_masks_are_unions_and_empty_without_polygons():
    """A rectangle covers exactly the pixels whose centres it contains; an instance of two
    polygons is their union; an instance without polygons is empty."""
    verts = [[0.26, 0.1], [0.5, 0.1], [0.5, 0.6], [0.26, 0.6],    # instance 0, part 1
             [0.8, 0.8], [0.95, 0.8], [0.95, 0.95], [0.8, 0.95],   # instance 0, part 2
             [0.0, 0.0], [0.2, 0.0], [0.0, 0.2]]                   # instance 2
    polys = [[0, 0, 4], [0, 4, 8], [2, 8, 11]]
    m = raster(polys, verts, 3, size=20)
    want = np.zeros((20, 20), bool)
    want[2:12, 5:10] = True  # centres (k + 0.5) / 20 inside [0.26, 0.5] x [0.1, 0.6]
    want[16:19, 16:19] = True
    assert np.array_equal(m[0], want)
    assert not m[1].any()
    assert m[2].sum() == 6  # centres (i + 0.5, j + 0.5) with i + j + 1 < 4


def instance_checks(pipe, batches, check):
    """Run ``batches`` batches of a polygon pipeline; call ``check(image, box, label, mask)``
    for each instance, after checking that instances and boxes correspond one to one."""
    checked = 0
    for _ in range(batches):
        out = dict(zip(pipe.output_names, (torch.from_numpy(o.as_array()) for o in pipe.run())))
        masks = instance_masks(out["polygons"], out["vertices"], out["count"], 160)
        for image, (b, lab), m in zip(rgb(out["images"]), unpad(out["boxes"], out["labels"],
                                                                 out["count"]), masks):
            assert len(m) == len(b)
            for box, label, mask in zip(b.numpy(), lab.numpy(), m.numpy()):
                if mask.sum() >= 30:
                    check(image, box, label, mask)
                    checked += 1
    return checked


def on_object_inside_box(least):
    def check(image, box, label, mask):
        ys, xs = np.nonzero(mask)
        extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]) / 160
        assert (extent[:2] >= box[:2] - 1.5 / 160).all(), (extent, box)
        assert (extent[2:] <= box[2:] + 1.5 / 160).all(), (extent, box)
        colour = (np.abs(image[mask] - COLOURS[int(label)]).max(-1) < 60).mean()
        assert colour > least, (label, colour)
    return check


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return sample_coco.make(tmp_path_factory.mktemp("coco"), train=24, val=6, progress=None)


def test_instances_follow_crop_flip_and_erasing(coco):
    """Crop, flip and object-aware erasing: instance ``j`` is box ``j``'s object (inside the
    box, in its colour); removed boxes (about a third here) take their instances with them."""
    pipe = detection_pipeline(coco, batch_size=8, size=160, masks="polygon", device="cpu",
                              seed=4, augment="bbox_erasing(mode=object,object_prob=1,fill=0,"
                                              "area=0.1-0.5,min_visibility=0.8)")
    assert instance_checks(pipe, 4, on_object_inside_box(0.35)) > 30


def test_cutmix_pastes_instances_clipped_to_the_region(coco):
    """CutMix detection: own instances stay, the partner's come clipped to the region; each
    lies inside its box (a partner's box is clipped to the region too) on its colour. Own
    instances keep the part under the region (as their boxes do), hence the lower bar."""
    pipe = detection_pipeline(coco, batch_size=8, size=160, masks="polygon", device="cpu",
                              seed=6, augment="cutmix_detection(alpha=1,min_visibility=0.5)")
    assert instance_checks(pipe, 4, on_object_inside_box(0.2)) > 30


def test_polygon_limits_and_mask_modes_are_checked(coco):
    with pytest.raises(ValueError, match="masks='instance'"):
        detection_pipeline(coco, batch_size=2, masks="instance", device="cpu")
    pipe = detection_pipeline(coco, batch_size=4, size=96, masks="polygon", device="cpu",
                              max_vertices=8, split="val")
    with pytest.raises(Exception, match="max_vertices=8"):
        pipe.run()


def coco_polygon(rs, h, w):
    """Pixel ``(n, 2)`` coordinates of a random polygon: COCO-like blobs (smooth noisy
    circles, 20-80 vertices, 2 decimals as COCO stores them), stars, self-intersecting ones,
    tiny ones, ones on the pixel grid (rounding ties of the x5 upsampling) and ones partly
    outside the image."""
    kind = rs.choice(["blob", "blob", "star", "random", "tiny", "grid", "outside"])
    cx, cy, n = rs.uniform(0, w), rs.uniform(0, h), int(rs.integers(3, 31))
    if kind in ("blob", "star"):
        n = int(rs.integers(20, 81)) if kind == "blob" else n
        t = np.linspace(0, 2 * np.pi, n, endpoint=False) if kind == "blob" else \
            np.sort(rs.uniform(0, 2 * np.pi, n))
        r0 = rs.uniform(0.01, 0.5) * min(h, w)
        r = r0 * (1 + 0.15 * rs.normal(size=n)) if kind == "blob" else r0 * rs.uniform(0.2, 1, n)
        p = np.c_[cx + r * np.cos(t), cy + r * np.sin(t)]
    elif kind == "random":
        p = rs.uniform(-0.1, 1.1, (n, 2)) * [w, h]
    elif kind == "tiny":
        p = np.c_[cx, cy] + rs.uniform(-1, 1, (n, 2)) * rs.uniform(0.05, 1.5)
    elif kind == "grid":
        step = rs.choice([1, 0.5, 0.2])
        p = np.round(rs.uniform(-0.1, 1.1, (n, 2)) * [w, h] / step) * step
    else:
        p = rs.uniform(-1, 2, (n, 2)) * [w, h]
    return np.round(p, 2) if kind == "blob" else p


@pytest.mark.parametrize("h, w", [(37, 53), (480, 640), (100, 100), (7, 5)])
def test_instance_masks_equal_pycocotools_rasterization(h, w):
    """At least 500 polygons (1-3 per instance) against pycocotools' frPyObjects, merge and
    decode: no pixel differs."""
    from pycocotools import mask as coco_mask

    rs = np.random.default_rng(h * w)
    polys, verts, parts, start = [], [], [], 0
    for i in range(80):
        parts.append([])
        for _ in range(int(rs.choice([1, 1, 2, 3]))):
            p = coco_polygon(rs, h, w)
            polys.append([i, start, start + len(p)])
            verts.append(p)
            parts[-1].append(p)
            start += len(p)
    assert len(polys) >= 125  # over the four sizes, at least 500
    px = np.concatenate(verts)
    frac = torch.from_numpy(px / [w, h])  # float64: pixel coordinates come back exactly
    ours = instance_masks(torch.tensor(polys)[None], frac[None], torch.tensor([80]),
                          (h, w))[0].numpy()
    for i, instance in enumerate(parts):
        back = [(q / [w, h] * [w, h]).ravel().tolist() for q in instance]
        want = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(back, h, w)))
        assert np.array_equal(ours[i], want.astype(bool)), (i, int((ours[i] != want).sum()))
