"""The record dtypes of dali_regaug.records are the C structs the kernels read: compiled by
the emulator's C++ compiler from the kernel sources themselves, every field's offsetof and
every struct's sizeof must equal the dtype's, and every shared constant its Python value."""

import shutil
import subprocess

import pytest

from dali_regaug import emulator, records
from dali_regaug.kernels import SOURCE_DIR

pytestmark = pytest.mark.skipif(shutil.which(emulator.compiler()) is None,
                                reason="no C++ compiler for the emulator")


def _program(struct):
    fields = "".join(f'  std::printf("{f} %zu\\n", offsetof({struct.name}, {f}));\n'
                     for f in struct.dtype.names if f in _c_fields(struct))
    consts = "".join(f'  std::printf("{k} %llu\\n", (unsigned long long)({k}));\n'
                     for k in records.CONSTANTS)
    return (f'#include <cstddef>\n#include "{emulator.SHIM}"\n#include "{SOURCE_DIR / struct.source}"\n'
            f'int main() {{\n  std::printf("sizeof %zu\\n", sizeof({struct.name}));\n'
            f'{fields}{consts}  return 0;\n}}\n')


def _c_fields(struct):
    """The dtype's fields that are members of the C struct (a header's variable part, the
    boxes of a rect set, follows the struct)."""
    return [f for f in struct.dtype.names if f != "boxes"]


def _compiled(struct, tmp_path):
    cpp, exe = tmp_path / f"{struct.name}.cpp", tmp_path / struct.name
    cpp.write_text(_program(struct))
    flags = [f for f in emulator.FLAGS if f not in ("-shared", "-fPIC")]
    subprocess.run([emulator.compiler(), *flags, f"-I{SOURCE_DIR}", str(cpp), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("struct", records.STRUCTS, ids=lambda s: s.name)
def test_each_record_dtype_has_its_structs_offsets_and_size(struct, tmp_path):
    got = _compiled(struct, tmp_path)
    want = {f: struct.dtype.fields[f][1] for f in _c_fields(struct)}
    assert {f: got[f] for f in want} == want
    assert got["sizeof"] == struct.dtype.itemsize
    for name, value in records.CONSTANTS.items():
        assert got[name] == value, name


def test_a_rect_sets_boxes_follow_its_header():
    for k in (1, 3, 101):
        d = records.rect_set(k)
        assert d.fields["boxes"][1] == records.RECT_HEADER.itemsize
        assert d.itemsize == records.RECT_HEADER.itemsize + 16 * k
