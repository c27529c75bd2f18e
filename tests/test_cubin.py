"""The GPU build without a GPU: CuPy's own NVRTC front end compiles each kernel file (only
the two calls that need a device are stubbed), with our options and no flush-to-zero, and
the on-disk cache is keyed by every kernel source, headers included."""

import shutil

import pytest

from dali_regaug import cubin, kernels, nvrtc
from dali_regaug.kernels import COMPILE_OPTIONS


@pytest.fixture
def cupy_without_a_gpu(monkeypatch, tmp_path):
    """CuPy's compiler with the device queries answered for an sm_90 GPU; returns the
    option lists NVRTC receives."""
    compiler = pytest.importorskip("cupy.cuda.compiler")
    monkeypatch.setattr(compiler, "_get_arch", lambda: "90")
    # memoized per device (a device query); the function itself needs none
    monkeypatch.setattr(compiler, "_get_arch_for_options_for_nvrtc",
                        compiler._get_arch_for_options_for_nvrtc.__wrapped__)
    seen, real = [], compiler._NVRTCProgram.compile

    def spy(self, options=(), log_stream=None):
        seen.append(tuple(options))
        return real(self, options, log_stream)

    monkeypatch.setattr(compiler._NVRTCProgram, "compile", spy)
    monkeypatch.setenv("DALI_REGAUG_CACHE", str(tmp_path / "cache"))
    return seen


def test_the_gpu_build_is_cupys_nvrtc_with_our_options_and_no_flush_to_zero(cupy_without_a_gpu):
    path = cubin.build("composite")
    binary = path.read_bytes()
    assert path.suffix == ".cubin" and binary[:4] == b"\x7fELF"
    assert b"composite_f32_chw_i32" in binary
    (options,) = cupy_without_a_gpu
    assert options[:len(COMPILE_OPTIONS)] == COMPILE_OPTIONS
    assert "-arch=sm_90" in options
    # NVRTC takes the last of a flag: RawModule(code=...) would append -ftz=true after ours
    assert [o for o in options if o.startswith("-ftz")] == ["-ftz=false"]
    ptx_options = [o for o in options if not o.startswith(("-arch", "--pch"))]
    assert ".ftz." not in nvrtc.compile_ptx("composite", 90, ptx_options)
    assert ".ftz." in nvrtc.compile_ptx("composite", 90, ptx_options + ["-ftz=true"])


def test_a_change_to_any_kernel_source_is_a_new_build(cupy_without_a_gpu, tmp_path,
                                                      monkeypatch):
    first = cubin.build("grid_mask")
    assert cubin.build("grid_mask") == first and len(cupy_without_a_gpu) == 1  # cached
    copy = tmp_path / "kernels"
    shutil.copytree(kernels.SOURCE_DIR, copy)
    monkeypatch.setattr(kernels, "SOURCE_DIR", copy)
    assert cubin.build("grid_mask") == first  # the same sources: the same build
    header = copy / "common.cuh"  # a header only: grid_mask.cu's text is unchanged
    header.write_text(header.read_text() + "\n// a new release\n")
    second = cubin.build("grid_mask")
    assert second != first and len(cupy_without_a_gpu) == 2
