"""The DALI adapter follows nvidia.dali.fn's conventions: ``device=``, per-sample arguments
as DataNodes, exec_dynamic checked when the graph is built, metadata kept off DALI's
pipeline, and a schedule that nobody drives is reported."""

import warnings

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types

import dali_regaug
from dali_regaug import fn as rfn
from dali_regaug import registry
from dali_regaug.pipelines import sample_images
from dali_regaug.records import GRID_MASK
from dali_regaug.schedule import Linear

N = 4


def _images(n=N, hw=(16, 16)):
    return fn.external_source(source=lambda: [np.full((*hw, 3), 200, np.uint8)] * n,
                              batch=True, layout="HWC")


def _values(values, dtype=None):
    """One value per sample: float32 for floats (as DALI's random ops give), int32 for ints."""
    kind = np.array(values).dtype.kind
    dtype = dtype or (np.float32 if kind == "f" else np.int32)
    return fn.external_source(source=lambda: [np.array(v, dtype) for v in values], batch=True)


def _run(body, **kw):
    @pipeline_def(batch_size=N, num_threads=1, device_id=None, seed=1, **kw)
    def pipe():
        return body()

    p = pipe()
    p.build()
    return p, [np.stack([np.asarray(o.at(i)) for i in range(len(o))]) for o in p.run()]


def test_prob_per_sample_from_a_datanode_decides_each_sample():
    _, (out, params) = _run(lambda: rfn.grid_mask(_images(), d=4, prob=_values([0, 1, 0, 1]),
                                                  return_params=True, name="gm"))
    recs = params.reshape(N, -1).view(GRID_MASK)
    assert recs["apply"].ravel().tolist() == [0, 1, 0, 1]
    assert (out[0] == 200).all() and (out[1] == 0).any()


def test_per_sample_arguments_follow_each_samples_value():
    _, (_, params) = _run(lambda: rfn.grid_mask(
        _images(), d=10, r=_values([0.2, 0.5, 0.8, 1.0], np.float64),
        unit_prob=_values([0, 0.25, 0.5, 1]), return_params=True))
    recs = params.reshape(N, -1).view(GRID_MASK).ravel()
    assert recs["keep"].tolist() == [2, 5, 8, 10]  # ceil(r * d) per sample
    assert (recs["unit_threshold"] / 2**24).tolist() == [0, 0.25, 0.5, 1]


def test_a_float32_per_sample_value_means_what_the_constant_means():
    """0.6 as float32 is 0.6000000238: read as 0.6, GridMask keeps 60 of 100 pixels, as the
    constant r=0.6 does (not 61)."""
    runs = [_run(lambda r=r: rfn.grid_mask(_images(), d=100, r=r, return_params=True, seed=4))
            for r in (0.6, _values([0.6] * N, np.float32))]
    recs = [p.reshape(N, -1).view(GRID_MASK).ravel() for _, (_, p) in runs]
    assert recs[0]["keep"].tolist() == [60] * N and np.array_equal(recs[0], recs[1])


def _pairs(a, b):
    return [a, b, a, b], (a, b)


@pytest.mark.parametrize("name, arg, values, constants", [
    ("cutmix", "alpha", *_pairs(0.3, 5.0)),
    ("mixup", "alpha", *_pairs(0.3, 5.0)),
    ("mix", "mixup_alpha", *_pairs(0.1, 3.0)),
    ("mix", "cutmix_alpha", *_pairs(0.1, 3.0)),
    ("mix", "switch_prob", *_pairs(0.1, 0.9)),
    ("random_erasing", "area", *_pairs((0.02, 0.05), (0.3, 0.4))),
    ("random_erasing", "aspect", *_pairs((0.3, 0.5), (2.0, 3.0))),
    ("cutout", "size", *_pairs(3, 11)),
    ("bbox_erasing", "area", *_pairs((0.02, 0.05), (0.3, 0.4))),
    ("bbox_erasing", "object_prob", *_pairs(0.2, 0.9))])
def test_each_sample_gets_the_draws_of_its_own_value(name, arg, values, constants):
    """A sample given ``arg`` per sample is drawn exactly as in a run where every sample has
    that value (same seed, so same keys)."""
    def body(value):
        x = _images()
        extra = {"cutout": (), "random_erasing": (),
                 "bbox_erasing": (_values([[[0.1, 0.1, 0.6, 0.6], [0.3, 0.2, 0.9, 0.8]]] * N),
                                  fn.cast(_values([[1, 2]] * N), dtype=types.INT32))
                 }.get(name, (fn.cast(_values([0, 1, 2, 3]), dtype=types.INT32),))
        given = {} if name in ("cutout", "bbox_erasing") else {"prob": 1.0}
        given.update({"cutout": {"size": 5}, "mix": {"switch_prob": 0.0 if arg == "mixup_alpha"
                                                     else 1.0}}.get(name, {}))
        given[arg] = value
        *_, params = getattr(rfn, name)(x, *extra, **given, return_params=True, seed=7)
        return params

    per_sample = _run(lambda: body(_values(values)))[1][0]
    for k, constant in enumerate(constants):
        alone = _run(lambda: body(constant))[1][0]
        np.testing.assert_array_equal(per_sample[k::2], alone[k::2])
    assert not np.array_equal(per_sample, _run(lambda: body(constants[0]))[1][0])


def test_a_per_sample_value_out_of_range_names_the_argument_and_the_sample():
    with pytest.raises(RuntimeError, match=r"grid_mask: r of sample 2 in the batch: r=1\.5 is "
                                           r"out of range"):
        _run(lambda: rfn.grid_mask(_images(), d=10, r=_values([0.2, 0.5, 1.5, 1.0])))


def test_an_argument_that_is_not_per_sample_refuses_a_datanode():
    with pytest.raises(TypeError, match=r"grid_mask: d takes no DataNode \(per-sample "
                                        r"arguments: r, unit_prob, prob\)"):
        _run(lambda: rfn.grid_mask(_images(), d=_values([4, 4, 4, 4])))


def test_device_gpu_moves_cpu_images_and_cpu_refuses_gpu_images():
    @pipeline_def(batch_size=N, num_threads=1, device_id=None)
    def pipe(device, to_gpu):
        x = _images()
        x = x.gpu() if to_gpu else x
        out = rfn.cutout(x, size=4, device=device)
        assert out.device == ("gpu" if device == "gpu" or to_gpu else "cpu")
        return out

    pipe(device="gpu", to_gpu=False)  # defined (a GPU run needs a GPU)
    pipe(device=None, to_gpu=True)
    with pytest.raises(ValueError, match="device='cpu' with images on the GPU"):
        pipe(device="cpu", to_gpu=True)


def test_gpu_images_need_exec_dynamic_and_say_so_when_the_graph_is_defined():
    @pipeline_def(batch_size=N, num_threads=1, device_id=None, exec_dynamic=False)
    def pipe():
        return rfn.grid_mask(_images().gpu(), d=4)

    with pytest.raises(ValueError, match="needs the pipeline's exec_dynamic=True"):
        pipe()


def test_outputs_come_in_declared_order_and_every_operator_is_called_the_same_way():
    def body():
        x = _images()
        labels = fn.cast(_values([1, 2, 3, 4]), dtype=types.INT32)
        out = [rfn.grid_mask(x, d=4), rfn.random_erasing(x), rfn.cutout(x, size=4)]
        out += rfn.cutmix(x, labels)  # images, labels, labels_b, lam
        return tuple(out)

    _, outs = _run(body)
    labels, labels_b, lam = outs[4:]
    assert labels.ravel().tolist() == [1, 2, 3, 4]
    assert sorted(labels_b.ravel().tolist()) == [1, 2, 3, 4]
    assert (labels_b.ravel() != labels.ravel()).all() and lam.dtype == np.float32


def test_metadata_is_not_kept_on_dalis_pipeline(tmp_path):
    from dali_regaug.pipelines import train_pipeline
    from dali_regaug.pipelines.built import Built

    built = train_pipeline(sample_images(), batch_size=2, size=32, device="cpu", seed=0,
                           augment="gridmask(d=8-16)")
    assert isinstance(built, Built) and built.output_names[:2] == ["images", "labels"]
    for attr in ("output_names", "dataset", "shard_size", "stream", "_regaug_ops"):
        assert attr not in vars(built.pipe), attr
    assert list(built.ops) == ["grid_mask_0"] and built.ops is registry.ops(built.pipe)


def test_a_schedule_that_is_never_driven_warns_once_after_an_epoch():
    def body():
        _, ids = fn.readers.file(files=sample_images()[:N], name="reader")
        return rfn.grid_mask(_images(), d=4, prob=Linear(1.0, epochs=5), name="gm",
                             sample_ids=fn.cast(ids, dtype=types.INT64))

    @pipeline_def(batch_size=N, num_threads=1, device_id=None, seed=1)
    def pipe():
        return body()

    def warned(drive):
        p = pipe()
        p.build()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for epoch in range(3):
                if drive:
                    dali_regaug.set_epoch(p, epoch)
                p.run()
        return [str(x.message) for x in w if "schedule" in str(x.message)]

    said = warned(drive=False)
    assert len(said) == 1 and "gm: prob=Linear" in said[0] and "set_epoch" in said[0]
    assert warned(drive=True) == []


def test_a_partner_source_follows_the_images_device():
    @pipeline_def(batch_size=N, num_threads=1, device_id=None)
    def pipe(images_on_gpu, augmented_on_gpu, device=None):
        x, a = _images(), _images()
        x = x.gpu() if images_on_gpu else x
        a = a.gpu() if augmented_on_gpu else a
        return rfn.keep_paste(x, sample_ids=fn.cast(_values([0, 1, 2, 3]), dtype=types.INT64),
                              crops=_values([[0, 0, 1, 1]] * N), flips=_values([0] * N),
                              bank=_Bank(), size=4, augmented=a, device=device)

    pipe(images_on_gpu=True, augmented_on_gpu=False)  # the CPU source is moved
    pipe(images_on_gpu=False, augmented_on_gpu=False, device="gpu")
    with pytest.raises(ValueError, match="augmented is on the GPU but the images are on the CPU"):
        pipe(images_on_gpu=False, augmented_on_gpu=True)


class _Bank:
    """Stands for a SaliencyBank where the graph is only defined."""

    n = 4

    def read(self, *args):
        raise AssertionError("not run")


def test_device_record_bytes_of_another_size_are_refused():
    from dali_regaug.ops.erasing import Cutout

    class DeviceBytes:
        """Record bytes on a device (as CuPy's): their size and dtype are host metadata."""

        nbytes, dtype = 40, np.dtype(np.uint8)

    rows = [DeviceBytes(), DeviceBytes()]
    with pytest.raises(TypeError, match=r"sample 0 are 40 uint8; this operator's records are "
                                        r"\d+ uint8"):
        rfn.catalog.get("grid_mask").build().records(rows, 2)
    assert Cutout(size=2).records(rows, 2) is rows  # 40 bytes: Cutout's own
