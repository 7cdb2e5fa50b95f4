# `make demo` and `make test` set everything up themselves (a .venv in the repo, installed through
# constraints.txt so that torch stays the pinned CPU build).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test test-slow test-gpu bench-gpu demo compare bench lint docs clean

setup: $(STAMP)

# Re-installs only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# CPU-only, also on a machine with a GPU: the CUDA devices are hidden, so --device auto is the CPU.
test: setup
	CUDA_VISIBLE_DEVICES= $(BIN)/python -m pytest -q -m "not slow and not gpu"

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# The tests that need a CUDA device (tests/test_devices_gpu.py, tests/lab/test_lab_gpu.py), and the
# layers against torch.nn on the GPU. The venv holds the pinned CPU build of torch, so on a GPU
# machine name a Python whose torch has CUDA (rnnkit is then imported from this checkout):
#   make test-gpu bench-gpu GPU_PYTHON=python3
# Both stop with one line, not a run of skips, when that torch sees no CUDA device.
GPU_PYTHON ?= $(BIN)/python
GPU_SETUP  := $(if $(filter $(BIN)/python,$(GPU_PYTHON)),setup)
NEED_CUDA   = import sys, torch; sys.exit(0 if torch.cuda.is_available() else f"the torch of $(GPU_PYTHON) ({torch.__version__}) sees no CUDA device; on a GPU machine run make $@ GPU_PYTHON=<a python whose torch has CUDA>")

test-gpu: $(GPU_SETUP)
	@$(GPU_PYTHON) -c '$(NEED_CUDA)'
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) -m pytest -q -m gpu

bench-gpu: $(GPU_SETUP)
	@$(GPU_PYTHON) -c '$(NEED_CUDA)'
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) benchmarks/bench_layers.py --device cuda --reps 7

demo: setup
	$(BIN)/rnnkit demo

compare: setup
	$(BIN)/rnnkit compare

bench: setup
	$(BIN)/python benchmarks/bench_layers.py --reps 11
	$(BIN)/python benchmarks/bench_classify.py
	$(BIN)/python benchmarks/bench_lm.py
	$(BIN)/python benchmarks/bench_seq2seq.py
	$(BIN)/python benchmarks/bench_decode.py --checkpoint runs/bench_seq2seq/en-es-general

lint: setup
	$(BIN)/ruff check .

# The documentation site in site/: mkdocs + mkdocstrings, installed into .venv on first use. --strict
# turns every warning (a broken link or reference, a docstring griffe cannot read) into a failure.
# The CLI reference is generated from the parser at build time (docs/hooks.py, docs/gen_cli.py).
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache site
