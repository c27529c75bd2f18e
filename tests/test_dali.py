"""Full CPU DALI pipelines (reader, decode, crop, flip, normalize, then each operator),
feeding PyTorch through DALIGenericIterator; the sampled parameters replay through the NumPy
reference."""

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types

import dali_regaug
from conftest import NOISE_ULPS, assert_match
from dali_regaug import fn as rfn
from dali_regaug import registry, schedule
from dali_regaug.pipelines import sample_images, train_pipeline

OPS = {
    "grid_mask": lambda x, **kw: rfn.grid_mask(x, d=(16, 48), rotate=20, fill="region", **kw),
    "random_erasing": lambda x, **kw: rfn.random_erasing(x, prob=0.8, count=2, **kw),
    "cutout": lambda x, **kw: rfn.cutout(x, size=24, fill=[0.1, 0.2, 0.3], **kw),
}


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("layout", ["CHW", "HWC"])
def test_pipeline_output_replays_from_its_parameters(name, layout):
    files = sample_images()
    pipe = train_pipeline(files, batch_size=4, size=96, layout=layout, device="cpu", seed=3,
                          augment=lambda x, y, ids: (x, *OPS[name](x, layout=layout, name=name,
                                                                  return_params=True)))
    base, *_, out, params = pipe.run()
    op = pipe.ops[name]
    recs = rfn.decode_params(op, params)
    images = [np.asarray(base.at(i)) for i in range(len(base))]
    expected = op.apply(images, recs, backend="numpy")
    actual = [np.asarray(out.at(i)) for i in range(len(out))]
    assert out.layout() == layout
    noisy = op.fill.mode != 0  # Box-Muller: the C library's logf/cosf against NumPy's
    assert_match(f"dali_{name}_{layout}", expected, actual, recs, exact=not noisy,
                 max_ulps=NOISE_ULPS)
    assert any((e != i).any() for e, i in zip(expected, images))


def test_emulator_backend_inside_dali_matches_numpy_backend():
    files = sample_images()

    def build(backend):
        return train_pipeline(files, batch_size=4, size=64, device="cpu", seed=5,
                              augment=lambda x, y, ids: rfn.grid_mask(
                                  x, d=(8, 20), rotate=45, layout="CHW", seed=1, backend=backend))

    a, b = build(None).run()[0], build("emulator").run()[0]
    assert all(np.array_equal(np.asarray(a.at(i)), np.asarray(b.at(i))) for i in range(4))


def test_pipeline_feeds_dali_generic_iterator():
    torch = pytest.importorskip("torch")
    from nvidia.dali.plugin.pytorch import DALIGenericIterator

    pipe = train_pipeline(sample_images(), batch_size=2, size=64, device="cpu", seed=1,
                          augment=lambda x, y, ids: rfn.cutout(
                              rfn.grid_mask(x, d=(8, 16), layout="CHW"), size=16, layout="CHW"))
    it = DALIGenericIterator([pipe.pipe], pipe.output_names, reader_name="reader")
    batches = list(it)
    assert len(batches) == 2
    x = batches[0][0]["images"]
    assert isinstance(x, torch.Tensor) and x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    assert (x == 0).float().mean() > 0.05  # masked pixels (fill 0) reach PyTorch


def test_sample_ids_input_and_state_round_trip():
    @pipeline_def(batch_size=4, num_threads=1, device_id=None, seed=2)
    def pipe():
        x = fn.random.uniform(range=[0, 1], shape=[32, 32, 3], seed=1)
        ids = fn.cast(fn.random.uniform(range=[0, 1000], seed=2), dtype=types.INT64)
        return rfn.random_erasing(x, prob=1.0, sample_ids=ids, name="re", return_params=True,
                                  layout="HWC")

    p = pipe()
    p.build()
    p.run()
    state = dali_regaug.state_dict(p)
    assert state["re"]["keys"]["visits"].sum() > 0
    dali_regaug.load_state_dict(p, state)
    with pytest.raises(KeyError):
        dali_regaug.load_state_dict(p, {"other": state["re"]})


def test_set_epoch_drives_the_schedule_of_every_operator():
    @pipeline_def(batch_size=64, num_threads=1, device_id=None, seed=4, prefetch_queue_depth=1)
    def pipe():
        x = fn.random.uniform(range=[0, 1], shape=[16, 16, 1], seed=1)
        return rfn.grid_mask(x, d=4, prob=schedule.Linear(1.0, epochs=4), return_params=True,
                             layout="HWC")[1]

    p = pipe()
    p.build()
    op = next(iter(registry.ops(p).values()))
    dali_regaug.set_epoch(p, 4)
    assert op.epoch == 4
    dali_regaug.set_epoch(p, 0)
    assert op.prob(op.epoch) == 0.0


def test_ragged_batches_over_iterations_replay_from_their_parameters():
    """CPU operators write into one buffer reused across batches; every batch of a prefetching
    pipeline, ragged ones included, must still equal the NumPy reference from its params."""
    @pipeline_def(batch_size=4, num_threads=2, device_id=None, seed=7, prefetch_queue_depth=2)
    def pipe():
        jpegs, _ = fn.readers.file(files=sample_images(), random_shuffle=True)
        x = fn.decoders.image_random_crop(jpegs, device="cpu")  # uint8, shapes differ
        y, gm = rfn.grid_mask(x, d=(8, 32), fill="random", return_params=True, name="gm")
        z, co = rfn.cutout(y, size=40, fill="region", return_params=True, name="co")
        return x, z, gm, co

    p = pipe()
    p.build()
    ops = registry.ops(p)
    runs = []
    for _ in range(4):
        outs = p.run()
        runs.append([[np.array(t.at(i)) for i in range(len(t))] for t in outs])
    assert len({a.shape for a in runs[0][0]}) > 1
    for x, z, gm, co in runs:
        rec_gm, rec_co = rfn.decode_params(ops["gm"], gm), rfn.decode_params(ops["co"], co)
        expected = ops["co"].apply(ops["gm"].apply(x, rec_gm), rec_co)
        assert_match("dali_ragged", expected, z, rec_gm)
