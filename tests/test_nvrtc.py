"""Every kernel file compiles with NVRTC for each target, and defines every variant."""

import pytest

from dali_regaug import nvrtc
from dali_regaug.kernels import OPS, kernel_names


def test_nvrtc_is_available():
    assert nvrtc.version() >= (12, 0)


@pytest.mark.parametrize("arch", nvrtc.ARCHS)
@pytest.mark.parametrize("op", OPS)
def test_kernel_compiles_for_arch(op, arch):
    ptx = nvrtc.compile_ptx(op, arch)
    assert f".target sm_{arch}" in ptx
    assert ".ftz." not in ptx  # subnormals kept, as on the CPU (-ftz=false)
    missing = [n for n in kernel_names(op) if f".entry {n}(" not in ptx]
    assert not missing, f"variants missing from {op}.cu: {missing}"


def test_compile_errors_are_reported(tmp_path, monkeypatch):
    bad = tmp_path / "broken.cu"
    bad.write_text('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }\n')
    monkeypatch.setattr(nvrtc, "source_path", lambda op: bad)
    with pytest.raises(RuntimeError, match="undefined_name"):
        nvrtc.compile_ptx("broken", 80)
