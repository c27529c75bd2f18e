# Quickstart targets: each sets up .venv (once) and runs its job.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: preview test bench gpu-test
preview: $(VENV)/.installed  ## write out/preview.png: each operator on the bundled photos
	$(VENV)/bin/dali-regaug preview --out out/preview.png

test: $(VENV)/.installed  ## the whole suite (GPU tests skip without a GPU)
	$(PY) -m pytest -q

bench: $(VENV)/.installed  ## CPU pipeline overhead benchmark, figures in out/bench.json
	mkdir -p out && $(PY) -m benchmarks.pipeline_overhead --json out/bench.json

gpu-test:  ## on a GPU machine with CuPy (DALI not needed): the real kernels against NumPy
	python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py
