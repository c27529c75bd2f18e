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
