# `make demo` and `make test` set everything up themselves (a .venv in the repo, installed through
# constraints.txt so that torch stays the pinned CPU build).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test test-slow test-gpu demo compare bench lint docs clean

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

# The tests that need a CUDA device (tests/test_devices_gpu.py); they skip where there is none.
test-gpu: setup
	$(BIN)/python -m pytest -q -m gpu

demo: setup
	$(BIN)/rnnkit demo

compare: setup
	$(BIN)/rnnkit compare

bench: setup
	$(BIN)/python benchmarks/bench_layers.py
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
