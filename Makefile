# Two entry points for a fresh machine (see README.md):
#   make run    create the environment and run the whole workflow on the embedded default
#   make test   create the environment and run the test suite
#   make test-slurm   the workflow on a real one-node SLURM cluster (root + apt)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 8
# ranx compiles its metrics with numba; cache them inside the environment.
export NUMBA_CACHE_DIR := $(abspath $(VENV))/numba-cache

.PHONY: install run test test-slurm lint format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

run: install
	$(BIN)/snakemake --cores $(CORES) all

test: install
	$(BIN)/pytest -ra --durations=15

# The real-SLURM integration test: installs slurm-wlm and munge with apt and starts a one-node
# cluster (root only; skipped with its reason elsewhere). CI runs it after `make test`.
test-slurm: install
	$(BIN)/pytest -ra -m slurm

lint: install
	$(BIN)/ruff check src workflow/scripts tests tools
	$(BIN)/ruff format --check src workflow/scripts tests tools
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

format: install
	$(BIN)/ruff format src workflow/scripts tests tools
	$(BIN)/ruff check --fix src workflow/scripts tests tools
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results logs benchmarks .snakemake
