"""The CPU emulator runs CUDA sources faithfully: barriers, shared memory, device helpers."""

from pathlib import Path

import numpy as np

from dali_regaug.emulator import EmulatorModule

CUDA = Path(__file__).parent / "cuda"


def test_shared_memory_reduction_with_syncthreads():
    mod = EmulatorModule(source=CUDA / "block_sum.cu", names=["block_sum"])
    assert mod.threaded
    x = np.arange(1000, dtype=np.float32)
    out = np.zeros(4, np.float32)
    mod.get_function("block_sum")((4,), (256,), (x, out, np.int32(1000)))
    expected = [x[i * 256:(i + 1) * 256].sum() for i in range(4)]
    np.testing.assert_array_equal(out, np.float32(expected))


def test_float16_conversions_match_numpy_bit_for_bit():
    mod = EmulatorModule(source=CUDA / "half.cu", names=["to_half", "from_half"])
    rs = np.random.default_rng(0)
    bits = np.concatenate([rs.integers(0, 2**32, 200_000, dtype=np.uint64),
                           np.arange(0x33000000 - 8, 0x38800000 + 8, 997),  # subnormal range
                           [0x477FE000, 0x477FF000, 0x477FEFFF, 0x7F800000, 0x7FC00000, 0]])
    x = bits.astype(np.uint32).view(np.float32)
    out = np.zeros(len(x), np.uint16)
    n = np.int32(len(x))
    mod.get_function("to_half")((-(-len(x) // 256),), (256,), (x, out, n))
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    np.testing.assert_array_equal(out[~nan], ref[~nan])
    assert np.isnan(out[nan].view(np.float16)).all()

    h = np.arange(2**16, dtype=np.uint16)
    back = np.zeros(2**16, np.float32)
    mod.get_function("from_half")((256,), (256,), (h, back, np.int32(2**16)))
    ref = h.view(np.float16).astype(np.float32)
    same = (back.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(back) & np.isnan(ref))
    assert same.all()


def test_kernel_arguments_must_carry_their_c_type():
    mod = EmulatorModule(source=CUDA / "half.cu", names=["to_half"])
    x, out = np.zeros(4, np.float32), np.zeros(4, np.uint16)
    try:
        mod.get_function("to_half")((1,), (4,), (x, out, 4))
    except TypeError as e:
        assert "NumPy scalar" in str(e)
    else:
        raise AssertionError("a bare Python int was accepted")
