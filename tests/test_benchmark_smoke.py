"""The pipeline benchmark runs end to end (tiny settings); figures are not asserted."""

import json

import numpy as np

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
                                       "--batches", "2", "--sizes", "24", "--epochs", "1",
                                       "--rounds", "1", "--workers", "1", "--json", str(out),
                                       "--png", str(tmp_path / "l.png")])
    assert set(rows) == set(loader_vs_torchvision.CASES)
    assert all(r["ratio"] > 0 for r in rows.values())
    record = json.loads(out.read_text())
    assert record["machine"]["cores"] > 0
    assert {(r["batch"], r["size"]) for r in record["sweep"]} == {(2, 32), (4, 24)}
    assert len(record["sweep"]) == 2 * len(rows)
    assert (tmp_path / "l.png").stat().st_size > 0


def test_the_numpy_gridmask_baseline_keeps_gridmask_s_area():
    """The DataLoader side's GridMask keeps ``1 - ((d - ceil(r d)) / d)**2`` of the image on
    average over ``d``, as ours does."""
    import torch

    from benchmarks.loader_vs_torchvision import GridMaskNumpy

    np.random.seed(0)
    grid = GridMaskNumpy((20, 40), r=0.6)
    kept = np.mean([grid(torch.ones(1, 400, 400)).mean().item() for _ in range(300)])
    d = np.arange(20, 41)
    assert abs(kept - np.mean(1 - ((d - np.ceil(0.6 * d)) / d) ** 2)) < 0.005


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
    results, _ = operators.main(["--batch", "4", "--size", "32", "--iters", "1", "--rounds", "1",
                                 "--json", str(out), "--png", str(png)])
    assert set(results) == {"random_erasing", "grid_mask", "cutmix", "mixup"}
    assert all(r["images_per_s"] > 0 and r["bandwidth_fraction"] > 0
               for impls in results.values() for r in impls.values())
    assert all(impls["dali-regaug"]["ratio_to_ours"] == 1 for impls in results.values())
    assert json.loads(out.read_text())["copy_bytes_per_s"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"dali-regaug in place", "dali fn.erase"} <= set(results["random_erasing"])
    assert {"dali-regaug in place", "dali fn.grid_mask"} <= set(results["grid_mask"])


def test_scaling_benchmark_smoke(tmp_path):
    from benchmarks import scaling

    out, png = tmp_path / "s.json", tmp_path / "s.png"
    results, fits = scaling.main(["--batches", "2", "4", "--sizes", "16", "--batch", "2",
                                  "--size", "24", "--iters", "1", "--rounds", "1",
                                  "--json", str(out), "--png", str(png)])
    assert set(results) == {"copy", "random_erasing", "grid_mask", "cutmix", "mixup"}
    assert all({(r["batch"], r["size"]) for r in rows} == {(2, 24), (4, 24), (2, 16)}
               for rows in results.values())
    assert json.loads(out.read_text())["fits"].keys() == results.keys()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fit_recovers_a_fixed_cost_and_a_cost_per_pixel():
    from benchmarks.scaling import fit

    rows = [{"mpix": m, "ms": 0.5 + 3.0 * m} for m in (0.01, 0.1, 1.0, 4.0)]
    assert np.allclose(fit(rows), (0.5, 3.0))


def test_the_device_check_runs_in_its_dry_form(tmp_path):
    """``make gpu-check``'s script on the host (kernels on the emulator, the launch
    stubbed): every part is recorded in the one JSON and the targets are evaluated, so that
    it does not rot between the rare GPU leases; DALI's part is reported as skipped."""
    from benchmarks import gpu

    record = gpu.main(["--device", "cpu", "--quick", "--batch", "2", "--size", "16",
                       "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu.json"]
    assert saved["tests"]["exit_code"] in (0, 5) and saved["tests"]["failures"] == 0
    assert saved["tests"]["tests"] == saved["tests"]["skipped"] > 0  # no GPU here
    ops = saved["operators"]["results"]
    assert {"dali-regaug", "dali-regaug apply only", "timm"} <= set(ops["random_erasing"])
    host = saved["host"]
    assert set(host["apply_ms"]) == {"grid_mask", "random_erasing", "cutout", "cutmix",
                                     "mixup"}
    assert all(row["stacked_ms"] > 0 and row["list_ms"] > 0 for row in host["apply_ms"].values())
    assert set(host["sampler_ms"]) == {"keep_cutout", "keep_paste", "keep_cutmix",
                                       "cam_erasing"}
    assert saved["pipeline"].startswith("skipped")
    assert "none" in saved["saliency_steps"]
    assert record["targets"] == saved["targets"]
    assert isinstance(saved["targets"]["host_ms_per_apply_within_0.15"], bool)


def test_crowd_benchmark_smoke(tmp_path):
    from benchmarks import crowd

    out = tmp_path / "c.json"
    rows = crowd.main(["--boxes", "20", "--size", "64", "--big", "256", "--batch", "4",
                       "--rounds", "1", "--json", str(out)])
    assert set(rows) == {"visibility", "random fill", "ragged fill"}
    assert rows["ragged fill"]["ratio_to_uniform"] > 0
    assert all(r["ms"] > 0 and r["ratio_to_copy"] > 0 for r in rows.values())
    assert json.loads(out.read_text())["rows"]["visibility"]["boxes"] == 20

