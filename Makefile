# crm-reports: `make report` renders the sample reports, `make test` runs every test.
# Both work on a fresh machine with only python3 and make: they create .venv when absent.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What rendering needs (make report), then the test tools, JupyterLab and Spark (make test)
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LAB_STAMP := $(VENV)/.installed-lab
# uv (from PyPI, into the venv) installs the same pinned packages as pip, several times faster.
# --compile-bytecode writes every package's .pyc once, at install: a Python run with
# PYTHONDONTWRITEBYTECODE=1 (as on CI machines) never writes them and compiled pandas,
# matplotlib, seaborn and scipy again in each process, 6 s of every report kernel's imports
# instead of 2 s (four kernels per render, and every notebook and CLI test).
PIP_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
# The project's own modules (an editable install, so not in site-packages), before each run:
# only files changed since the last run are compiled again.
COMPILE_CRMLIB := $(BIN)/python -m compileall -q crmlib >/dev/null
# Use the venv's own python3 kernelspec, whatever kernels the machine has elsewhere.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export MPLBACKEND := Agg
PYTEST_ARGS ?=
# tests run on this many workers (pytest-xdist: whole modules, or test classes, per worker)
TEST_WORKERS ?= 2
LINT_PATHS := crmlib tests notebooks $(wildcard benchmarks) $(wildcard demos)

.PHONY: help setup report test lint format lab sample bench bench-ingest spark-demo postgres-demo clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install -qq uv

$(STAMP): pyproject.toml | $(BIN)/uv
	$(PIP_INSTALL) -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (crm-reports)" >/dev/null
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PIP_INSTALL) -e '.[dev]'
	@touch $(DEV_STAMP)

$(LAB_STAMP): $(STAMP)
	$(PIP_INSTALL) -e '.[lab]'
	@touch $(LAB_STAMP)

setup: $(DEV_STAMP) ## Create .venv and install the project with its test tools (quick when nothing changed)

report: $(STAMP) ## Render reports/<as_of>/ from data/sample/ and print the index path
	@$(COMPILE_CRMLIB)
	$(BIN)/crm-report render --data data/sample --out reports

test: $(DEV_STAMP) ## Run the whole test suite (unit, notebooks with nbval, end-to-end)
	@$(COMPILE_CRMLIB)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## Lint and check formatting
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(DEV_STAMP) ## Format the code
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

# Extra JupyterLab options, e.g. make lab LAB_ARGS="--no-browser --ServerApp.port=8899"
LAB_ARGS ?=

lab: $(LAB_STAMP) ## Start JupyterLab on notebooks/ (options in LAB_ARGS, e.g. --no-browser)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

# Engines beyond DuckDB, end to end (demos/engines.py): start the engine from the machine's
# own software, load the sample with crm-report ingest --into VAR, render the four reports
# through it, compare every KPI with a DuckDB render, stop the engine. Options in DEMO_ARGS
# (e.g. DEMO_ARGS="--data benchmarks/data/1000000/sample").
DEMO_ARGS ?=

spark-demo: $(DEV_STAMP) ## Spark master + worker + Connect server (Java 17): render through sc://, compare KPIs
	$(BIN)/python -m demos.engines spark $(DEMO_ARGS)

postgres-demo: $(DEV_STAMP) ## Throwaway PostgreSQL cluster: render through postgres://, compare KPIs
	$(BIN)/python -m demos.engines postgres $(DEMO_ARGS)

sample: $(STAMP) ## Regenerate the bundled sample in data/sample/
	$(BIN)/crm-report sample --out data/sample --customers 3000 --seed 7

# Customers in the benchmark's generated data (cached in benchmarks/data/<SIZE>/)
SIZE ?= 1000000

bench: $(DEV_STAMP) ## Scale benchmark, e.g. make bench SIZE=1000000 (updates benchmarks/RESULTS.md)
	@$(COMPILE_CRMLIB)
	$(BIN)/python -m benchmarks.run --size $(SIZE) --write

bench-ingest: $(DEV_STAMP) ## Ingestion vs a plain DuckDB load, e.g. make bench-ingest SIZE=3000000
	$(BIN)/python -m benchmarks.ingest --size $(SIZE) --write

clean: ## Remove the venv, caches and rendered reports
	rm -rf $(VENV) .cache reports .pytest_cache
