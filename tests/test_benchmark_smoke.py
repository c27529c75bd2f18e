"""The pipeline benchmark runs end to end (tiny settings); figures are not asserted."""

import json

from benchmarks import pipeline_overhead


def test_benchmark_smoke(tmp_path):
    out = tmp_path / "b.json"
    rows, sampler = pipeline_overhead.main(["--batch", "4", "--size", "64", "--iters", "1",
                                            "--rounds", "1", "--json", str(out)])
    assert set(rows) == set(pipeline_overhead.VARIANTS)
    assert all(r["images_per_s"] > 0 for r in rows.values())
    assert json.loads(out.read_text())["sampler_us_per_sample"].keys() == sampler.keys()


def test_loader_benchmark_smoke(tmp_path):
    from benchmarks import loader_vs_torchvision
    from datasets import id_folder

    data = id_folder(tmp_path / "d", n=8, classes=2)
    out = tmp_path / "l.json"
    rows = loader_vs_torchvision.main(["--data", str(data), "--batch", "4", "--size", "32",
                                       "--epochs", "1", "--rounds", "1", "--workers", "1",
                                       "--json", str(out)])
    assert set(rows) == set(loader_vs_torchvision.CASES)
    assert all(r["ratio"] > 0 for r in rows.values())
    assert json.loads(out.read_text())["machine"]["cores"] > 0
