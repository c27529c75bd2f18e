# Quickstart targets: each sets up .venv (once) and runs its job.
VENV ?= .venv
PY := $(VENV)/bin/python
# A matching torch/torchvision pair, installed first (these two lie on the dev and CI
# machines' disk); override with TORCH='torch==X torchvision==Y' elsewhere.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# The CUDA flavour of DALI and CuPy (pyproject's extras): torch 2.14.1's wheels are CUDA 13
# builds, so one CUDA stack in the environment; CUDA=cuda12 with a CUDA 12 torch.
CUDA ?= cuda13

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[$(CUDA),test]'
	touch $@

.PHONY: train preview test bench bench-loader bench-detection bench-saliency bench-operators \
	bench-scaling bench-crowd bench-cpu gpu-test gpu-check
train: $(VENV)/.installed  ## sample dataset (built once), 3 epochs of ResNet-18 with GridMask + CutMix, preview
	$(VENV)/bin/dali-regaug train --epochs 3 --size 112 --out out/train
	$(VENV)/bin/dali-regaug preview --out out/preview.png

preview: $(VENV)/.installed  ## write out/preview.png: each augmentation on one image per class
	$(VENV)/bin/dali-regaug preview --out out/preview.png

test: $(VENV)/.installed  ## the whole suite (GPU tests skip without a GPU)
	$(PY) -m pytest -q

bench: $(VENV)/.installed  ## CPU pipeline overhead benchmark, figures in out/bench.json
	mkdir -p out && $(PY) -m benchmarks.pipeline_overhead --json out/bench.json

bench-loader: $(VENV)/.installed  ## DALI training loader vs torchvision DataLoader (+ sweeps), out/loader_bench.{json,png}
	mkdir -p out && $(PY) -m benchmarks.loader_vs_torchvision --json out/loader_bench.json --png out/loader_bench.png

bench-detection: $(VENV)/.installed  ## cost of bbox_erasing in the CPU COCO pipeline, out/detection_bench.json
	mkdir -p out && $(PY) -m benchmarks.detection_overhead --json out/detection_bench.json

bench-saliency: $(VENV)/.installed  ## training step per saliency producer, keep_cutout vs cutout, out/saliency_bench.json
	mkdir -p out && $(PY) -m benchmarks.saliency_overhead --json out/saliency_bench.json

bench-operators: $(VENV)/.installed  ## our ops vs timm/torchvision/kornia/albumentations on tensors, out/operators.{json,png}
	mkdir -p out && $(PY) -m benchmarks.operators --json out/operators.json --png out/operators.png

bench-scaling: $(VENV)/.installed  ## our ops' cost against batch and image size, out/scaling.{json,png}
	mkdir -p out && $(PY) -m benchmarks.scaling --json out/scaling.json --png out/scaling.png

bench-crowd: $(VENV)/.installed  ## crowd visibility (1000 boxes, 640^2), random fill on 4000^2 and on mixed sizes, out/crowd.json
	mkdir -p out && $(PY) -m benchmarks.crowd --json out/crowd.json

bench-cpu: bench-operators bench-scaling bench-loader  ## the CPU comparison of benchmarks/README.md

# The device check needs no install: a GPU machine's own Python with CuPy and torch (DALI
# optional) runs it from this checkout, in at most three minutes.
GPU_PY ?= python3
gpu-check:  ## on a GPU machine: GPU tests, kernels vs copy bandwidth, host time, saliency step; out/gpu/gpu.json
	$(GPU_PY) -m benchmarks.gpu --out out/gpu

gpu-test: $(VENV)/.installed  ## on a GPU machine: the real kernels against NumPy
	$(PY) -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py
