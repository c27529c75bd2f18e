"""The CPU kernels (numba twins of kernels/*.cu): their noise within the documented ULPs,
their work split among threads, their on-disk cache, and their DALI node, which must give
what the emulator gives for the records it outputs, in every dtype and layout."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types

from conftest import NOISE_ULPS, assert_match, make_images, operator, ulps
from dali_regaug import cpu_node, dtypes, launch, rng
from dali_regaug import fn as rfn
from dali_regaug.kernels import cpu as cpu_kernels

ROOT = Path(__file__).resolve().parent.parent


def _c_library_normals(h):
    """The emulator's Box-Muller: the C library's float32 logf, cosf and sqrtf."""
    import ctypes

    libm = ctypes.CDLL("libm.so.6")
    for name in ("logf", "cosf", "sqrtf"):
        getattr(libm, name).restype = ctypes.c_float
        getattr(libm, name).argtypes = [ctypes.c_float]
    f32 = np.float32
    u1 = ((h >> np.uint64(40)) + np.uint64(1)).astype(f32) * f32(2.0**-24)
    u2 = ((h >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(f32) * f32(2.0**-24)
    turn = f32(6.2831854820251465) * u2
    return np.array([f32(libm.sqrtf(f32(-2.0) * f32(libm.logf(a)))) * f32(libm.cosf(b))
                     for a, b in zip(u1, turn)], f32)


def test_box_muller_noise_is_within_the_documented_ulps():
    """The CPU kernels' float32 Box-Muller (polynomial logf and cosf, so that it vectorizes)
    within NOISE_ULPS of the C library's (the emulator's) and close to NumPy's own; the
    ULP bound is kept against the C library only: near the zeros of the cosine, NumPy's
    SIMD cosf differs from both by more ULPs of a tiny value."""
    from numba import njit

    from dali_regaug.kernels.cpu.noise import normal

    @njit
    def normals(h):
        out = np.empty(len(h), np.float32)
        for i in range(len(h)):
            out[i] = normal(h[i])
        return out

    h = rng.mix64(np.arange(1 << 20, dtype=np.uint64))
    mine = normals(h)
    assert ulps(mine[:1 << 17], _c_library_normals(h[:1 << 17])).max() <= NOISE_ULPS
    np.testing.assert_allclose(mine, rng.normal_from_hash(h), rtol=1e-5, atol=1e-6)
    assert abs(float(mine.mean())) < 0.01 and abs(float(mine.std()) - 1) < 0.01


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_samples_split_among_threads_and_launches_give_the_same_batch(threads, emulator):
    """Any split of the samples gives the same bits (the noise, float here, within
    NOISE_ULPS of the emulator's)."""
    rs = np.random.default_rng(4)
    hws = [(17, 23), (9, 31), (17, 23), (5, 5), (30, 2)]
    images = make_images(rs, hws, 3, np.float32, "HWC")
    op = operator("random_erasing", prob=1.0, count=3, fill="random", seed=2)
    p = op.draw(np.array(hws))
    one = op.apply(images, p, backend=launch.NumbaBackend(1))
    actual = op.apply(images, p, backend=launch.NumbaBackend(threads), max_grid_y=2)
    assert_match(f"threads_{threads}", one, actual, p)
    assert_match(f"threads_{threads}_emulator", op.apply(images, p, backend=emulator), actual,
                 p, exact=False, max_ulps=NOISE_ULPS)


def test_in_place_writes_only_the_erased_pixels():
    rs = np.random.default_rng(5)
    x = np.stack(make_images(rs, [(32, 40)] * 4, 3, np.uint8, "CHW"))
    op = operator("cutout", size=10, layout="CHW", seed=1)
    p = op.draw(np.tile([32, 40], (4, 1)))
    expected = op.apply(x, p, backend="numpy")
    out = op.apply(x, p, out=x)
    assert out is x
    np.testing.assert_array_equal(x, expected)


def test_the_cache_covers_every_source_the_code_depends_on(tmp_path, monkeypatch):
    """numba's own cache checks a function's file only; a change to a shared helper, to the
    entry points, to a record layout or to numba must be a new build."""
    before = cpu_kernels.digest()
    for name in ("common.py", "run.py"):
        pkg = tmp_path / name
        pkg.mkdir()
        for f in cpu_kernels.HERE.glob("*.py"):
            (pkg / f.name).write_bytes(f.read_bytes() + (b"\n# edited\n" if f.name == name
                                                         else b""))
        monkeypatch.setattr(cpu_kernels, "HERE", pkg)
        cpu_kernels.digest.cache_clear()
        assert cpu_kernels.digest() != before
    monkeypatch.undo()
    cpu_kernels.digest.cache_clear()
    assert cpu_kernels.digest() == before
    records = tmp_path / "records.py"  # the record layouts, read into the code as constants
    records.write_bytes(cpu_kernels.DEPENDENCIES[0].read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(cpu_kernels, "DEPENDENCIES", (records, *cpu_kernels.DEPENDENCIES[1:]))
    cpu_kernels.digest.cache_clear()
    assert cpu_kernels.digest() != before
    monkeypatch.undo()
    monkeypatch.setattr(cpu_kernels.numba, "__version__", "0.0.1")
    cpu_kernels.digest.cache_clear()
    assert cpu_kernels.digest() != before
    monkeypatch.undo()
    cpu_kernels.digest.cache_clear()


def test_a_second_process_loads_the_kernels_instead_of_compiling_them():
    """What keeps a pipeline's build within a second per operator after the first build on
    a machine: every entry point comes from the cache."""
    code = ("from dali_regaug.kernels.cpu import run\n"
            "print(run.dali_sample.cache_hits, run.dali_batch.cache_hits, "
            "run.same_shape.cache_hits)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(2):  # the first may compile (a fresh machine)
        hits = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True).stdout.split()
    assert hits == ["1", "1", "1"]


TYPES = {"uint8": types.UINT8, "float16": types.FLOAT16, "float32": types.FLOAT}
CASES = {
    "grid_mask": dict(d=(5, 15), rotate=20, unit_prob=0.8, fill="region"),
    "random_erasing": dict(prob=1.0, count=(1, 3), fill="random"),
    "cutout": dict(size=9, fill=[1.0, 2.0, 3.0]),
    "cutmix": {},
    "mixup": {},
}


def _run(name, dtype, layout, batch, hws, kwargs, *, declare=True):
    """One batch through ``dali_regaug.fn.<name>`` on CPU: the images, the output, the
    records, the partner of each sample (mixing) and the pipeline."""
    rs = np.random.default_rng(len(hws))
    src = [(x * 60).astype(dtype) for x in make_images(rs, hws, 3, np.float32, layout)]

    @pipeline_def(batch_size=batch, num_threads=2, device_id=None, seed=7)
    def pipe():
        x = fn.external_source(source=lambda: src, batch=True, layout=layout,
                               dtype=TYPES[dtype] if declare else None)
        if name in ("cutmix", "mixup"):
            ids = fn.external_source(source=lambda: [np.array([i]) for i in range(batch)],
                                     batch=True)
            y, _, partner, _, p = getattr(rfn, name)(x, ids, return_params=True, **kwargs)
            return x, y, p, partner
        y, p = getattr(rfn, name)(x, return_params=True, **kwargs)
        return x, y, p, p

    pp = pipe()
    pp.build()
    x, y, p, partner = ([np.asarray(t) for t in out] for out in pp.run())
    return x, y, p, [int(q.reshape(-1)[0]) for q in partner], pp


def _expected(name, layout, kwargs, x, p, partners, emulator):
    op = operator(name, layout=layout, **kwargs)
    recs = op.records(p)
    if name in ("cutmix", "mixup"):
        return op.apply(x, [x[i] for i in partners], recs, backend=emulator), recs
    return op.apply(x, recs, backend=emulator), recs


def _noisy(name, dtype):
    """Whether the case fills float data with Box-Muller noise (within NOISE_ULPS)."""
    return dtype != "uint8" and isinstance(CASES[name].get("fill"), str)


def _kinds(pp):
    return {type(o._op).__name__ for o in pp._ops}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", list(TYPES))
@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_dali_numba_node_matches_the_emulator(name, dtype, layout, emulator):
    """The CPU node (numba_function, per sample; per batch with partners from the batch)
    on images of several sizes, against the emulator replaying its records."""
    mixing = name in ("cutmix", "mixup")
    hws = [(24, 30)] * 4 if mixing else [(24, 30), (13, 41), (24, 30), (7, 9)]
    x, y, p, partners, pp = _run(name, dtype, layout, 4, hws, CASES[name])
    assert cpu_node.NODE_NAME in _kinds(pp)
    expected, recs = _expected(name, layout, CASES[name], x, p, partners, emulator)
    assert_match(f"numba_node_{name}_{dtype}_{layout}", expected, y, recs,
                 exact=not _noisy(name, dtype), max_ulps=NOISE_ULPS)
    assert all(a.dtype == np.dtype(dtype) for a in y)
    assert any((a != b).any() for a, b in zip(y, x))


def test_a_dtype_the_graph_cannot_tell_runs_the_kernel_in_a_python_function(emulator):
    x, y, p, _, pp = _run("grid_mask", "float32", "HWC", 3, [(20, 20)] * 3, CASES["grid_mask"],
                          declare=False)
    assert cpu_node.NODE_NAME not in _kinds(pp)
    expected, recs = _expected("grid_mask", "HWC", CASES["grid_mask"], x, p, None, emulator)
    assert_match("python_function_grid_mask", expected, y, recs, exact=False,
                 max_ulps=NOISE_ULPS)


def test_a_dtype_the_graph_got_wrong_is_refused_not_reinterpreted():
    from dali_regaug import batch as batch_mod

    op = operator("cutout", size=4, layout="HWC")
    recs = op.draw(np.tile([8, 8], (2, 1)))

    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(source=lambda: [np.zeros((8, 8, 3), np.uint8)] * 2,
                               batch=True, layout="HWC")
        p = fn.external_source(source=lambda: batch_mod.rows(recs), batch=True)
        s = fn.external_source(source=lambda: op.settings([3, 3], "float32"), batch=True)
        return cpu_node.apply(x, None, p, s, dtype="float32", layout="HWC", batch=False)

    pp = pipe()
    pp.build()
    with pytest.raises(Exception, match="doesn't match type of the input data: uint8 != float"):
        pp.run()


def test_partners_of_another_shape_are_refused_naming_the_sample():
    with pytest.raises(Exception, match=r"cutmix: sample \d is \(.*\) but its second source"):
        _run("cutmix", "uint8", "HWC", 3, [(20, 20), (20, 20), (21, 20)], {})


def test_dtypes_are_read_from_the_graph():
    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def pipe():
        x = fn.external_source(source=lambda: [np.zeros((4, 4, 3), np.uint8)], batch=True,
                               layout="HWC", dtype=types.UINT8)
        found = {"source": dtypes.of(x), "flipped": dtypes.of(fn.flip(fn.crop(x, crop=(2, 2)))),
                 "normalized": dtypes.of(fn.crop_mirror_normalize(x)),
                 "half": dtypes.of(fn.cast(x, dtype=types.FLOAT16)),
                 "resized_to_float": dtypes.of(fn.resize(x, size=2, dtype=types.FLOAT)),
                 "ours": dtypes.of(rfn.cutout(fn.cast(x, dtype=types.FLOAT16), size=2)),
                 "int16": dtypes.of(fn.cast(x, dtype=types.INT16)),
                 "python": dtypes.of(fn.python_function(x, function=lambda a: a))}
        assert found == {"source": "uint8", "flipped": "uint8", "normalized": "float32",
                         "half": "float16", "resized_to_float": "float32", "ours": "float16",
                         "int16": None, "python": None}
        return x

    pipe()


def test_the_cache_falls_back_to_the_temporary_directory_and_never_to_numbas_own(
        tmp_path, monkeypatch):
    """An unwritable cache directory must not hand the kernels to numba's in-tree cache
    (which checks each function's own file only: stale code after a helper's edit)."""
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setattr(cpu_kernels, "cache_dir", lambda: blocked / "cache")
    monkeypatch.setattr(cpu_kernels.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    path = cpu_kernels.cache_path()
    assert path.parent.parent.parent == tmp_path / "tmp" and path.name == \
        cpu_kernels.digest()[:16]
    monkeypatch.setattr(cpu_kernels.tempfile, "gettempdir", lambda: str(blocked))
    assert cpu_kernels.cache_path() is None  # then nothing is cached at all
    from numba.core import caching

    assert caching.CacheImpl._locator_classes[0] is cpu_kernels.Locator


def test_host_inputs_the_kernels_cannot_take_are_refused():
    """Each would have been read or written wrongly: another byte order, a read-only
    output, an output that is the images in another order (sample 0 would overwrite
    sample 2's pixels before they are read)."""
    rs = np.random.default_rng(3)
    x = np.stack(make_images(rs, [(8, 8)] * 3, 3, np.float32, "HWC"))
    op = operator("cutout", size=4, seed=1)
    p = op.draw(np.tile([8, 8], (3, 1)))
    with pytest.raises(TypeError, match="byte order"):
        op.apply(x.astype(">f4"), p)
    frozen = x.copy()
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match="out is read-only"):
        op.apply(frozen, p, out=frozen)
    with pytest.raises(ValueError, match="overlaps the input of sample 0"):
        op.apply([x[i] for i in (2, 0, 1)], p, out=x)
    assert op.apply(x, p, out=x) is x  # in place, each sample on itself


def test_the_node_refuses_channels_its_counters_cannot_tell_apart():
    with pytest.raises(ValueError, match="300 channels"):
        operator("cutout", size=4).settings([3, 300], "uint8")


def test_a_second_source_of_another_dtype_is_refused_when_the_pipeline_is_defined():
    from dali_regaug.saliency import SaliencyBank

    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def pipe(bank):
        x = fn.external_source(source=lambda: [np.zeros((8, 8, 3), np.uint8)] * 2,
                               batch=True, layout="HWC", dtype=types.UINT8)
        a = fn.cast(x, dtype=types.FLOAT)
        ids = fn.external_source(source=lambda: [np.array([i]) for i in range(2)], batch=True)
        crops = fn.constant(fdata=[0.0, 0.0, 1.0, 1.0], shape=[4])
        flips = fn.constant(idata=0, dtype=types.INT32)
        return rfn.keep_paste(x, sample_ids=ids, crops=crops, flips=flips, augmented=a,
                              size=4, bank=bank)

    with SaliencyBank(1) as bank, pytest.raises(TypeError, match="keep_paste: augmented is "
                                                "float32 but the images are uint8"):
        pipe(bank)


def test_without_numba_the_cpu_kernels_name_the_extra(monkeypatch):
    from dali_regaug import extras

    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(ImportError, match=r"dali-regaug\[cpu\]"):
        extras.numba()
