"""The real CuPy path on a GPU against the NumPy reference (``backend="numpy"``). Skipped
cleanly where no GPU is present.

On a GPU machine: ``python -m pytest -m gpu tests/test_gpu.py`` (DALI is not needed).
"""

import numpy as np
import pytest

from conftest import assert_match, make_images, operator
from dali_regaug.ops import composite
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import Mix


def _gpu_available():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _gpu_available(), reason="no CUDA GPU")]

OPS = [lambda lay: GridMask(d=(6, 20), rotate=45, unit_prob=0.6, fill="region", layout=lay, seed=1),
       lambda lay: GridMask(d=(6, 20), reverse=True, fill=[10, 20, 30], layout=lay, seed=2),
       lambda lay: RandomErasing(prob=1.0, count=(1, 3), fill="random", layout=lay, seed=3),
       lambda lay: Cutout(size=9, count=2, layout=lay, seed=4)]


@pytest.mark.parametrize("make", OPS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32])
@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_cupy_kernel_matches_numpy(make, dtype, layout):
    import cupy

    rs = np.random.default_rng(0)
    hws = [(37, 53)] * 6 + [(20, 31), (64, 64)]
    op = make(layout)
    images = make_images(rs, hws, 3, dtype, layout)
    params = op.draw(np.array(hws))
    expected = op.apply(images, params, backend="numpy")
    with cupy.cuda.Stream(non_blocking=True) as stream:
        out = op.apply([cupy.asarray(x) for x in images], params)
        stream.synchronize()
    noisy = op.fill.mode != 0 and np.dtype(dtype) != np.uint8
    assert_match("gpu", expected, [cupy.asnumpy(x) for x in out], params, exact=not noisy,
                 rtol=1e-4, atol=2e-3)


def test_cupy_composite_matches_numpy():
    import cupy

    rs = np.random.default_rng(1)
    a = make_images(rs, [(30, 40)] * 4, 3, np.uint8)
    b = make_images(rs, [(30, 40)] * 4, 3, np.uint8)
    p = composite.params(np.array([[[2, 3, 20, 30]]] * 4), [1, 1, 0, 1], [1, 0.3, 0, 0.5],
                         [0, 0.7, 0.4, 0.5])
    got = composite.apply([cupy.asarray(x) for x in a], [cupy.asarray(x) for x in b], p)
    assert_match("gpu_composite", composite.apply(a, b, p, backend="numpy"),
                 [cupy.asnumpy(x) for x in got], p)


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_cupy_mix_from_device_parameter_bytes_matches_numpy(layout):
    """As in a GPU pipeline: records arrive as per-sample device bytes."""
    import cupy

    rs = np.random.default_rng(2)
    a = make_images(rs, [(24, 36)] * 6, 3, np.float16, layout)
    b = make_images(rs, [(24, 36)] * 6, 3, np.float16, layout)
    op = Mix(mixup_alpha=0.4, cutmix_alpha=1.0, layout=layout, seed=6)
    p = op.draw(np.array([(24, 36)] * 6))
    rows = [cupy.asarray(r) for r in p.view(np.uint8).reshape(6, -1)]
    got = op.apply_batch([cupy.asarray(x) for x in a], rows, [cupy.asarray(x) for x in b])
    assert_match("gpu_mix", op.apply(a, b, p, backend="numpy"), [cupy.asnumpy(x) for x in got], p,
                 exact=False, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_cupy_box_aware_ops_from_device_parameter_bytes_match_numpy(layout):
    """The GPU nodes of bbox_erasing (and its mask eraser) and of CutMix's detection mode:
    records sampled on the host arrive as device bytes."""
    import cupy

    from dali_regaug.ops.bbox_erasing import BboxErasing
    from dali_regaug.ops.cutmix_detection import CutMixDetection
    from dali_regaug.ops.erasing import Erase

    rs = np.random.default_rng(3)
    hw = np.array([(40, 48)] * 6)
    images = make_images(rs, hw, 3, np.float32, layout)
    masks = [np.full((40, 48, 1), 3, np.uint8) for _ in range(6)]
    boxes = [np.array([[0.1, 0.2, 0.6, 0.7], [0.5, 0.1, 0.9, 0.4]], np.float32)] * 6
    labels = [np.array([1, 2], np.int32)] * 6
    shapes = [x.shape for x in images]
    op = BboxErasing(prob=1.0, object_prob=1.0, fill=0.5, layout=layout, seed=7)
    p = op.sample_named({"shapes": shapes, "boxes": boxes, "labels": labels})[0]
    device_rows = [cupy.asarray(r) for r in p.view(np.uint8).reshape(len(p), -1)]
    got = op.apply_batch([cupy.asarray(x) for x in images], device_rows)
    assert_match("gpu_bbox_erasing", op.apply(images, p, backend="numpy"),
                 [cupy.asnumpy(x) for x in got], p)
    masker = Erase(max_boxes=op.max_boxes + 1, fill=255, seed=0)
    got = masker.apply_batch([cupy.asarray(m) for m in masks], device_rows)
    assert_match("gpu_bbox_masks", masker.apply(masks, p, backend="numpy"),
                 [cupy.asnumpy(x) for x in got], p)

    cut = CutMixDetection(layout=layout, seed=8)
    perm = [np.array(i) for i in (1, 2, 3, 4, 5, 0)]
    p = cut.sample_named({"shapes": shapes, "partners": perm, "boxes": boxes,
                          "labels": labels})[0]
    partners = [cupy.asarray(images[int(i)]) for i in perm]
    got = cut.apply_batch([cupy.asarray(x) for x in images],
                          [cupy.asarray(r) for r in p.view(np.uint8).reshape(len(p), -1)],
                          partners)
    assert_match("gpu_cutmix_detection", cut.apply_batch(images, p, perm),
                 [cupy.asnumpy(x) for x in got], p)


def test_the_per_step_mode_on_cuda_tensors_matches_the_cpu_batch():
    import torch

    from dali_regaug.saliency import step

    x = torch.randn(8, 3, 32, 32)
    maps = torch.rand(8, 16, 16)

    def keep(**kw):
        return operator("keep_cutout", bank=None, size=9, layout="CHW", seed=9, **kw)

    cpu, recs = step.apply(keep(backend="numpy"), x, maps)
    gpu, recs_gpu = step.apply(keep(), x.cuda(), maps.cuda())
    torch.cuda.synchronize()
    np.testing.assert_array_equal(recs, recs_gpu)
    assert_match("gpu_keep_cutout_step", list(cpu.numpy()), list(gpu.cpu().numpy()), recs)


def test_apply_on_cuda_tensors_matches_numpy_and_gives_cuda_tensors_back():
    """op.apply takes CUDA tensors through DLPack (the kernel, on CuPy's current stream) and
    returns tensors on the same device."""
    torch = pytest.importorskip("torch")
    rs = np.random.default_rng(9)
    x = rs.standard_normal((4, 3, 20, 24)).astype(np.float32)
    op = GridMask(d=(4, 8), layout="CHW", seed=3)
    p = op.draw(np.full((4, 2), (20, 24)))
    got = op.apply(torch.from_numpy(x).cuda(), p)
    assert got.is_cuda
    torch.cuda.synchronize()
    assert_match("gpu_torch_grid_mask", op.apply(x, p, backend="numpy"), list(got.cpu().numpy()), p)


@pytest.mark.parametrize("make", [
    lambda: Mix(mixup_alpha=0.4, cutmix_alpha=1.0, layout="CHW", seed=6),
    lambda: Cutout(size=9, count=2, layout="CHW", seed=4),
    lambda: RandomErasing(prob=1.0, fill=[0.5, 1e-39, -2.0], layout="CHW", seed=3)])
def test_subnormal_pixels_keep_their_bits_on_the_gpu(make):
    """The GPU build keeps subnormals (-ftz=false, after the options CuPy would add): with
    a third of the pixels subnormal, blends, copies and constant fills equal the emulator,
    which runs the same .cu on the CPU, bit for bit."""
    import cupy

    rs = np.random.default_rng(5)
    x = (rs.standard_normal((12, 3, 37, 53)) * 1e-38).astype(np.float32)
    x[:, :, ::2] = rs.standard_normal((12, 3, 19, 53))
    assert (np.abs(x) < np.finfo(np.float32).tiny).mean() > 0.3
    op = make()
    p = op.draw(np.full((12, 2), (37, 53)))
    sources = (x, x[::-1].copy()) if isinstance(op, Mix) else (x,)
    expected = op.apply(*sources, p, backend="emulator")
    got = cupy.asnumpy(op.apply(*(cupy.asarray(s) for s in sources), p))
    assert_match("gpu_subnormals", list(expected.view(np.uint32)), list(got.view(np.uint32)), p)
