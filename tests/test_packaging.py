"""The wheel installs one namespace, dali_regaug, with the CUDA sources as package data."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True)
    (whl,) = out.glob("dali_regaug-*.whl")
    return zipfile.ZipFile(whl).namelist()


def test_single_top_level_namespace(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"dali_regaug"}


def test_kernels_and_pipelines_are_subpackages(wheel_names):
    for f in ("grid_mask.cu", "erase.cu", "composite.cu", "common.cuh", "rectset.cuh", "__init__.py"):
        assert f"dali_regaug/kernels/{f}" in wheel_names
    for f in ("__init__.py", "common.py", "entry.py", "run.py"):  # the CPU kernels
        assert f"dali_regaug/kernels/cpu/{f}" in wheel_names
    assert "dali_regaug/pipelines/__init__.py" in wheel_names
    assert "dali_regaug/benchmarks/operators.py" in wheel_names  # dali-regaug bench
    assert "dali_regaug/emulator/cuda_shim.h" in wheel_names
    assert any(n.startswith("dali_regaug/data/") and n.endswith(".jpg") for n in wheel_names)


def test_console_script_declared(wheel_names):
    ep = [n for n in wheel_names if n.endswith("entry_points.txt")]
    assert ep


def _metadata(wheel_names, tmp_path_factory):
    out = tmp_path_factory.mktemp("meta")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True)
    (whl,) = out.glob("dali_regaug-*.whl")
    zf = zipfile.ZipFile(whl)
    return zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()


def test_cuda_stacks_are_extras_one_flavour_each(wheel_names, tmp_path_factory):
    meta = _metadata(wheel_names, tmp_path_factory)
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert not any("dali" in r or "cupy" in r or "nvrtc" in r for r in core), core
    for flavour, dali, cupy in (("cuda12", "nvidia-dali-cuda120", "cupy-cuda12x"),
                                ("cuda13", "nvidia-dali-cuda130", "cupy-cuda13x")):
        mine = [r for r in requires if f'extra == "{flavour}"' in r]
        assert any(r.startswith(dali) for r in mine) and any(r.startswith(cupy) for r in mine)
        # DALI's CPU pipelines run the numba kernels: the flavour brings the CPU extra
        assert any(r.startswith("dali-regaug[cpu]") for r in mine), mine
    assert not any("numba" in r for r in core), core
    assert any(r.startswith("numba") and 'extra == "cpu"' in r for r in requires), requires
    assert "License-Expression: Apache-2.0" in meta
