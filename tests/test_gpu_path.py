"""The GPU-only code paths, on CPU: mock devices and streams stand in for CUDA, the
emulator for the kernels. Each test is a crash or a silent error that a real GPU would
otherwise be the first to show."""

from __future__ import annotations

import contextlib
import types

import numpy as np
import pytest

from conftest import operator
from dali_regaug import launch
from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import MixUp


class Recorder(launch.EmulatorBackend):
    """The emulator behind a mock device: records the device current at every step of a
    launch, each allocation, each upload and each kernel's grid."""

    def __init__(self, device=3):
        super().__init__()
        self.device, self.current, self.log = device, 0, []

    @contextlib.contextmanager
    def device_of(self, arrays):
        before, self.current = self.current, self.device
        try:
            yield
        finally:
            self.current = before

    def device_key(self):
        return self.current

    def empty(self, shape, dtype=np.uint8):
        self.log.append(("empty", self.current))
        return super().empty(shape, dtype)

    def upload(self, dev, host):
        self.log.append(("upload", self.current))
        super().upload(dev, host)

    def kernel(self, op, name):
        real = super().kernel(op, name)

        def run(grid, block, args):
            self.log.append(("kernel", self.current, tuple(grid)))
            real(grid, block, args)
        return run


def test_a_launch_runs_whole_on_the_datas_device_with_one_upload():
    be = Recorder(device=3)
    op = RandomErasing(prob=1.0, fill=[0.1, 0.2, 0.3], layout="CHW", seed=1)
    x = np.random.default_rng(0).normal(size=(8, 3, 16, 20)).astype(np.float32)
    p = op.draw(np.full((8, 2), (16, 20)))
    out = op.apply(x, p, backend=be)
    np.testing.assert_array_equal(out, op.apply(x, p))
    assert [e[0] for e in be.log] == ["empty", "empty", "upload", "kernel"]  # out, buffer
    assert all(e[1] == 3 for e in be.log), be.log  # nothing on the device that was current
    assert be.current == 0


def test_the_cupy_backend_enters_the_arrays_device():
    arrays = types.SimpleNamespace(device="cuda:5")
    assert launch.CupyBackend.device_of(arrays) == "cuda:5"
    assert launch.CupyBackend.device_of([arrays, arrays]) == "cuda:5"


@pytest.mark.parametrize("n, limit", [(7, 3), (6, 3), (2, 3)])
def test_a_batch_past_the_grid_limit_takes_several_launches_with_the_same_result(n, limit):
    be = Recorder()
    rs = np.random.default_rng(n)
    a = rs.integers(0, 256, (n, 9, 11, 3)).astype(np.uint8)
    b = rs.integers(0, 256, (n, 9, 11, 3)).astype(np.uint8)
    op = MixUp(alpha=0.4, seed=2)
    p = op.draw(np.full((n, 2), (9, 11)))
    got = op.apply(a, b, p, backend=be, max_grid_y=limit)
    np.testing.assert_array_equal(got, op.apply(a, b, p, backend="emulator"))
    grids = [e[2] for e in be.log if e[0] == "kernel"]
    assert [g[1] for g in grids] == [min(limit, n - i) for i in range(0, n, limit)]


def test_the_default_grid_limit_is_cudas():
    be = Recorder()
    n = launch.MAX_GRID_Y + 2
    x = np.zeros((n, 1, 1, 1), np.uint8)
    op = GridMask(d=(2, 4), layout="HWC", seed=0)
    out = op.apply(x, op.draw(np.ones((n, 2), int)), backend=be)
    assert out.shape == x.shape
    assert [e[2][1] for e in be.log if e[0] == "kernel"] == [65535, 2]


def test_the_dali_body_reuses_one_output_buffer_per_device():
    be = Recorder(device=1)
    op = GridMask(d=(4, 8), layout="CHW", seed=0)
    op.backend = be  # as a CuPy batch would pick CuPy's backend
    x = [np.ones((3, 12, 12), np.float32) for _ in range(4)]
    p = op.draw(np.full((4, 2), 12))
    first = op.apply_batch(x, p)
    np.testing.assert_array_equal(np.stack(first), op.apply(x, p))
    second = op.apply_batch(x, p)
    assert np.shares_memory(first[0], second[0])  # the same buffer, not a new one per batch
    assert list(op._buffers) == [1]
    be.device = 2
    third = op.apply_batch(x, p)
    assert not np.shares_memory(third[0], second[0]) and sorted(op._buffers) == [1, 2]


def test_the_per_step_mode_launches_on_the_tensors_device_and_torchs_stream(monkeypatch):
    torch = pytest.importorskip("torch")
    cupy = pytest.importorskip("cupy")
    from dali_regaug.saliency import step

    entered = []

    @contextlib.contextmanager
    def device(index):
        entered.append(("device", index))
        yield

    class Stream:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            entered.append(("stream", self.handle))

        def __exit__(self, *exc):
            entered.append(("exit", self.handle))

    torch_stream = types.SimpleNamespace(cuda_stream=1234, __cuda_stream__=lambda: (0, 1234))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda dev: torch_stream)
    monkeypatch.setattr(cupy.cuda, "Device", device)
    monkeypatch.setattr(cupy.cuda.Stream, "from_external",
                        classmethod(lambda cls, s: Stream(s.cuda_stream)), raising=False)
    x = types.SimpleNamespace(is_cuda=True, device=torch.device("cuda", 2))
    with step._stream_of(x):
        entered.append(("body",))
    assert entered == [("device", 2), ("stream", 1234), ("body",), ("exit", 1234)]


def test_the_per_step_mode_draws_from_the_maps_on_the_host():
    """The regions depend on the maps' values only, never on the device's arithmetic:
    the sampler gets the producer's maps as they are and resamples them itself."""
    torch = pytest.importorskip("torch")
    from dali_regaug.ops.placement import View
    from dali_regaug.saliency import step

    x = torch.randn(6, 3, 24, 24)
    maps = torch.rand(6, 7, 7)
    keep = lambda: operator("keep_cutout", bank=None, size=9, layout="CHW", seed=4)  # noqa: E731
    _, recs = step.apply(keep(), x, maps)
    direct = keep().draw(np.full((6, 2), 24), view=View(list(maps.numpy()), np.ones(6, bool)))
    np.testing.assert_array_equal(recs, direct)


def test_ddp_sets_the_ranks_device_before_the_process_group(monkeypatch):
    torch = pytest.importorskip("torch")
    from dali_regaug import train

    calls = []
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "5")
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", str(d))))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group",
                        lambda backend: calls.append(("init_process_group", backend)))
    device, distributed = train.setup_distributed("gpu")
    assert calls == [("set_device", "cuda:5"), ("init_process_group", "nccl")]
    assert str(device) == "cuda:5" and distributed
    calls.clear()
    device, _ = train.setup_distributed("cpu")
    assert calls == [("init_process_group", "gloo")] and str(device) == "cpu"


def test_blocks_per_sample_give_each_thread_several_pixels_yet_fill_the_gpu():
    """A training batch: about 8 pixels per thread (a block's start costs a few dependent
    loads); one image alone: enough blocks for a large GPU; never past max_grid_x, never a
    block without a pixel."""
    assert launch.blocks_per_sample(224 * 224, 256, 256, 1024) == 25
    assert launch.blocks_per_sample(224 * 224, 1, 256, 1024) == 196  # one pixel per thread
    assert launch.blocks_per_sample(4000 * 4000, 1, 256, 1024) == 1024
    assert launch.blocks_per_sample(224 * 224, 256, 256, 4) == 4
    assert launch.blocks_per_sample(5, 3, 256, 1024) == 1
