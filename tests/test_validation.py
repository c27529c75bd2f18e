"""Invalid arguments fail when the pipeline is built, naming the argument, value and range."""

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def

from dali_regaug import fn as rfn
from dali_regaug import schedule
from dali_regaug.ops.erasing import Cutout, RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import Mix
from dali_regaug.torch import soft_targets


@pytest.mark.parametrize("make,err,match", [
    (lambda: GridMask(r=1.5), ValueError, r"r=1.5 is out of range: expected 0.0 <= r <= 1.0"),
    (lambda: GridMask(r="big"), TypeError, r"r='big': expected a number"),
    (lambda: GridMask(d=(50, 10)), ValueError, r"d=\(50, 10\): min 50 is greater than max 10"),
    (lambda: GridMask(d=0), ValueError, r"d\[0\]=0 is out of range"),
    (lambda: GridMask(d=2.5), TypeError, r"d\[0\]=2.5: expected an integer"),
    (lambda: GridMask(d=(1, 2, 3)), ValueError, r"expected a number or a \(min, max\) pair"),
    (lambda: GridMask(rotate=-1), ValueError, r"rotate=-1"),
    (lambda: GridMask(reverse=1), TypeError, r"reverse=1: expected True or False"),
    (lambda: GridMask(unit_prob=2), ValueError, r"unit_prob=2"),
    (lambda: GridMask(prob=-0.1), ValueError, r"prob=-0.1 is out of range"),
    (lambda: GridMask(prob=float("nan")), ValueError, r"prob=nan"),
    (lambda: GridMask(layout="NHWC"), ValueError, r"layout='NHWC': expected 'HWC' or 'CHW'"),
    (lambda: GridMask(seed=-3), ValueError, r"seed=-3 is out of range"),
    (lambda: GridMask(fill="blue"), ValueError, r"fill='blue'"),
    (lambda: GridMask(fill=[]), TypeError, r"fill=\[\]"),
    (lambda: GridMask(backend="tpu"), ValueError, r"backend='tpu'"),
    (lambda: RandomErasing(area=(0.5, 0.1)), ValueError, r"area=\(0.5, 0.1\)"),
    (lambda: RandomErasing(area=1.5), ValueError, r"area\[0\]=1.5"),
    (lambda: RandomErasing(aspect=(0, 2)), ValueError, r"aspect\[0\]=0"),
    (lambda: RandomErasing(count=0), ValueError, r"count\[0\]=0"),
    (lambda: Cutout(size=0), ValueError, r"size=0 is out of range"),
    (lambda: Cutout(size=8, count=1.5), TypeError, r"count=1.5: expected an integer"),
    (lambda: Mix(mixup_alpha=-1), ValueError, r"mixup_alpha=-1 is out of range"),
    (lambda: Mix(mixup_alpha=0, cutmix_alpha=0), ValueError, r"at least one must be > 0"),
    (lambda: Mix(switch_prob=1.5), ValueError, r"switch_prob=1.5"),
    (lambda: soft_targets([1], [2], [0.5], 3, smoothing=1.5), ValueError, r"smoothing=1.5"),
    (lambda: schedule.Linear(1.2, epochs=5), ValueError, r"end=1.2"),
    (lambda: schedule.Linear(0.5, epochs=0), ValueError, r"epochs=0"),
])
def test_bad_argument_names_itself(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_errors_surface_while_defining_the_pipeline():
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        x = fn.random.uniform(range=[0, 1], shape=[8, 8, 3])
        return rfn.grid_mask(x, r=3.0, layout="HWC")

    with pytest.raises(ValueError, match="r=3.0"):
        pipe()


def test_non_datanode_inputs_are_rejected():
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        return rfn.cutout(np.zeros((8, 8, 3)), size=2)

    with pytest.raises(TypeError, match="images must be a DataNode"):
        pipe()


@pytest.mark.parametrize("images,err,match", [
    ([np.zeros((4, 4, 3), np.int32)], TypeError, "dtype int32 is not supported"),
    ([np.zeros((4, 4), np.float32)], ValueError, "expected 3-D"),
    ([np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 2), np.float32)], ValueError,
     "mixes channel counts"),
    ([np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8)], TypeError, "mixes dtypes"),
])
def test_bad_batches_fail_before_any_launch(emulator, images, err, match):
    op = Cutout(size=2)
    p = op.draw(np.array([(4, 4)] * len(images)))
    for backend in (None, emulator):
        with pytest.raises(err, match=match):
            op.apply(images, p, backend=backend)


def test_fill_with_wrong_channel_count():
    op = Cutout(size=2, fill=[1, 2])
    with pytest.raises(ValueError, match=r"fill=\[1.0, 2.0\] has 2 values for images with 3 channels"):
        op.apply([np.zeros((4, 4, 3), np.float32)], op.draw(np.array([(4, 4)])))


def test_mixing_needs_partners_of_the_same_shape():
    op = Mix(seed=1)
    a = [np.zeros((4, 4, 3), np.float32), np.zeros((6, 4, 3), np.float32)]
    with pytest.raises(ValueError, match="same shapes"):
        op.apply(a, a[::-1], op.draw(np.array([(4, 4), (6, 4)])))


def test_mixing_labels_must_be_a_datanode():
    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        x = fn.random.uniform(range=[0, 1], shape=[8, 8, 3])
        return rfn.cutmix(x, [1, 2], layout="HWC")

    with pytest.raises(TypeError, match="labels must be a DataNode"):
        pipe()


def test_an_image_side_past_the_kernels_32_bit_coordinates_is_refused_by_name():
    from dali_regaug import validate

    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (2, 1, 2**29, 3), (0,) * 4)
    op = GridMask(d=(4, 8), seed=0)
    with pytest.raises(ValueError, match=r"images: sample 0 .* below 536870912"):
        op.apply(huge, op.draw(np.array([[1, 2**29]] * 2)))
    assert validate.image_shapes([(1, 2**29 - 1, 3)], "HWC").tolist() == [[1, 2**29 - 1]]
