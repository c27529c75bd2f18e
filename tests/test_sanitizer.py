"""Memory safety: fuzzed kernel launches under AddressSanitizer and UBSan's alignment check
find no invalid or misaligned access (a GPU faults on a misaligned load, x86 does not), and
the same harness does catch a planted out-of-bounds access and a planted misaligned load."""

import subprocess
import sys
from pathlib import Path

import pytest

from dali_regaug.emulator import asan_environment

SCRIPT = Path(__file__).parent / "asan_fuzz.py"


def run(*args):
    env = asan_environment()
    env["PYTHONPATH"] = str(SCRIPT.parent)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.slow
def test_fuzzed_launches_are_clean_under_asan():
    res = run("60")
    assert res.returncode == 0 and "asan-run-complete" in res.stdout, res.stderr[-4000:]
    assert "AddressSanitizer" not in res.stderr
    assert "misaligned" not in res.stderr


def test_asan_catches_a_planted_overflow():
    res = run("--planted")
    assert res.returncode != 0
    assert "heap-buffer-overflow" in res.stderr, res.stderr[-4000:]


def test_the_alignment_check_catches_a_planted_misaligned_load():
    res = run("--misaligned")
    assert res.returncode != 0
    assert "misaligned address" in res.stderr, res.stderr[-4000:]
