# make run   start the service locally (gateway on http://localhost:8000; settings from .env)
# make test  run the whole test suite
# make bench measure the gateway against bare fsync+rename apps (Flask, and no framework)
# Both create their own virtual environment in .venv on first use: `make run` installs the
# service only (pip install -e .), `make test` adds the test tools (pip install -e '.[test]').

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RUNTIME := $(VENV)/.installed-runtime

.PHONY: run test bench venv clean

venv: $(INSTALLED)

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e .
	touch $@

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[test]'
	touch $@ $(RUNTIME)

.env:
	cp .env.example .env

run: $(RUNTIME) .env
	ZARR_INGRESS_PYTHON=$(BIN)/python tools/run_local.sh

test: $(INSTALLED)
	$(BIN)/pytest

bench: $(INSTALLED)
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) data *.egg-info .pytest_cache
