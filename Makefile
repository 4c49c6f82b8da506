# Set-up is automatic: every target first makes .venv with the project and its dev tools.
# Another Python gets its own venv: make test PYTHON=python3.13 VENV=.venv-3.13
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: examples examples-all test libraries lint docs bench clean

examples: $(STAMP)  ## the demo: the plugin catches a broken handler, passes good ones, and says so
	$(BIN)/python -m pytest examples/test_app.py --demo

examples-all: $(STAMP)  ## every example, with every report (-rA): what CI runs
	$(BIN)/python -m pytest examples -rA

test: $(STAMP)  ## the plugin's own tests, in file order (CI also runs them shuffled: .ci/run)
	$(BIN)/python -m pytest -p no:randomly

libraries: $(STAMP)  ## sse-starlette, FastAPI, Litestar, Django streams: in process vs behind real servers
	$(BIN)/python -m pytest tests/test_library_agreement.py --agreement

lint: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m ruff check pytest_disconnect tests examples benchmarks scripts conftest.py

docs: $(STAMP)  ## the documentation site from docs/, into site/ (strict: a warning fails the build)
	$(BIN)/python -m mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_throughput.py

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

clean:
	rm -rf $(VENV) site
