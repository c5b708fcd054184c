# The one task runner: the README, pre-commit and .ci/run all call these targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: install demo test unit integration e2e lint format typecheck check bench bench-serve audit clean help

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/.installed  ## Create the virtualenv and install personamap with its dev tools.

demo: install  ## Run the whole persona lifecycle on the embedded default (./.personamap/).
	$(BIN)/personamap demo
	$(BIN)/personamap assign --unassigned
	$(BIN)/personamap report --refresh-counts --out $${PERSONAMAP_HOME:-.personamap}/report.html
	$(BIN)/personamap serve --show-example

lint: install  ## ruff lint and format check.
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install  ## Apply ruff fixes and formatting.
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

typecheck: install  ## mypy (strict) over src/.
	$(BIN)/mypy

check: lint typecheck  ## Lint and type-check.

test: check  ## Everything: lint, types, then the whole test suite.
	$(BIN)/pytest

unit: install  ## Only the fast unit tests.
	$(BIN)/pytest -m unit

integration: install  ## Only the tests against real PostgreSQL, Redis and MLflow.
	$(BIN)/pytest -m integration

bench: install  ## All benchmarks (needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379).
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/batch.py
	$(BIN)/python benchmarks/stream.py
	$(BIN)/python benchmarks/dashboard.py
	scripts/ensure-wrk
	$(BIN)/python benchmarks/serve.py

bench-serve: install  ## The serving benchmark alone (installs wrk from Debian if missing).
	scripts/ensure-wrk
	$(BIN)/python benchmarks/serve.py

audit: install  ## Known vulnerabilities in the installed dependencies (pip-audit; needs PyPI's JSON API).
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off

clean:  ## Remove the virtualenv, caches and the embedded state.
	rm -rf $(VENV) .personamap .pytest_cache .mypy_cache .ruff_cache test-output
