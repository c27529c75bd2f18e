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


def test_detection_benchmark_smoke(tmp_path):
    from benchmarks import detection_overhead
    from dali_regaug import sample_coco

    root = sample_coco.make(tmp_path / "coco", train=8, val=1, progress=None)
    out = tmp_path / "d.json"
    rows, host = detection_overhead.main(["--data", str(root), "--batch", "4", "--size", "64",
                                          "--iters", "1", "--rounds", "1", "--json", str(out)])
    assert set(rows) == set(detection_overhead.VARIANTS) and host > 0
    assert json.loads(out.read_text())["boxes_per_image"] > 0


def test_saliency_benchmark_smoke(tmp_path):
    from benchmarks import saliency_overhead

    out = tmp_path / "s.json"
    steps, pipeline = saliency_overhead.main(["--batch", "4", "--size", "32", "--steps", "1",
                                              "--iters", "1", "--rounds", "1", "--device",
                                              "cpu", "--json", str(out)])
    assert set(steps) == set(saliency_overhead.PRODUCERS + saliency_overhead.PARTS)
    assert steps["none"]["ratio"] == 1
    assert all(r["seconds"] > 0 for r in steps.values())
    assert set(pipeline) == {"none", "cutout", "keep_cutout", "keep_cutout_vs_cutout"}
    assert json.loads(out.read_text())["machine"]["device"] == "cpu"


def test_operator_benchmark_smoke(tmp_path):
    from benchmarks import operators

    out, png = tmp_path / "o.json", tmp_path / "o.png"
    results = operators.main(["--batch", "4", "--size", "32", "--iters", "1", "--rounds", "1",
                              "--json", str(out), "--png", str(png)])
    assert set(results) == {"random_erasing", "grid_mask", "cutmix", "mixup"}
    assert all(r["images_per_s"] > 0 and r["bandwidth_fraction"] > 0
               for impls in results.values() for r in impls.values())
    assert all(impls["dali-regaug"]["ratio_to_ours"] == 1 for impls in results.values())
    assert json.loads(out.read_text())["copy_bytes_per_s"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
