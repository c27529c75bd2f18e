"""What the library needs and takes: dali_regaug and dali_regaug.fn import and run without
torch; without DALI, dali_regaug.fn says which extras to install; op.apply takes torch
tensors as well as NumPy arrays and gives tensors back."""

import subprocess
import sys

import numpy as np
import pytest

from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.grid_mask import GridMask
from dali_regaug.ops.mixing import Mix


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_dali_regaug_its_fn_and_its_cli_work_without_torch():
    res = _python("""
import sys
sys.modules["torch"] = None  # any import of torch now fails
from dali_regaug.cli import main
assert main(["ops", "grid_mask"]) == 0
import numpy as np
from nvidia.dali import fn, pipeline_def
import dali_regaug
from dali_regaug import fn as rfn

@pipeline_def(batch_size=2, num_threads=1, device_id=None, seed=0)
def pipe():
    x = fn.external_source(source=lambda: [np.zeros((8, 8, 3), np.uint8)] * 2, batch=True,
                           layout="HWC")
    return rfn.random_erasing(rfn.grid_mask(x, d=4), prob=1.0)

p = pipe()
p.build()
print(p.run()[0].as_array().shape)
""")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "(2, 8, 8, 3)"


def test_without_dali_fn_and_pipelines_name_the_extras_and_ops_still_work():
    res = _python("""
import sys
for name in ("nvidia", "nvidia.dali"):
    sys.modules[name] = None
import dali_regaug
from dali_regaug.ops import catalog
print(len(catalog.operators()))
for module in ("dali_regaug.fn", "dali_regaug.pipelines"):
    try:
        __import__(module)
    except ImportError as err:
        print(err)
from dali_regaug.cli import main
print(main(["ops", "cutout"]))
""")
    assert res.returncode == 0, res.stderr
    count, fn_says, pipelines_say, *ops, rc = res.stdout.strip().splitlines()
    assert int(count) >= 10
    for message in (fn_says, pipelines_say):
        assert "pip install 'dali-regaug[cuda12]' or 'dali-regaug[cuda13]'" in message
    assert rc == "0" and ops[0] == "cutout" and any("size : integer" in line for line in ops)


def test_apply_takes_torch_tensors_and_gives_tensors_back():
    torch = pytest.importorskip("torch")
    rs = np.random.default_rng(0)
    x = rs.standard_normal((4, 3, 20, 24)).astype(np.float32)
    gm = GridMask(d=(4, 8), layout="CHW", seed=1)
    p = gm.draw(np.full((4, 2), (20, 24)))
    got = gm.apply(torch.from_numpy(x), p)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), gm.apply(x, p))
    listed = gm.apply(list(torch.from_numpy(x)), p)
    assert all(isinstance(t, torch.Tensor) for t in listed)
    np.testing.assert_array_equal(torch.stack(listed).numpy(), gm.apply(x, p))

    mix = Mix(layout="CHW", seed=2)
    q = mix.draw(np.full((4, 2), (20, 24)))
    partners = x[[1, 2, 3, 0]]
    got = mix.apply(torch.from_numpy(x), torch.from_numpy(partners), q)
    np.testing.assert_array_equal(got.numpy(), mix.apply(x, partners, q))

    erase = RandomErasing(prob=1.0, layout="CHW", seed=3)
    u8 = torch.from_numpy((rs.random((2, 3, 16, 16)) * 255).astype(np.uint8))
    r = erase.draw(np.full((2, 2), 16))
    np.testing.assert_array_equal(erase.apply(u8, r).numpy(), erase.apply(u8.numpy(), r))
