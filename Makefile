# The two commands: `make up` runs the system, `make test` runs every check.
# Both set themselves up (.venv, install) on a machine with only Python 3.11.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
PYTEST_ARGS ?=
# Tests run in four worker processes: much of their time is spent waiting on
# databases and processes, so on two cores four workers keep both busy (measured:
# 15 minutes for 1,124 tests where two workers took about 25 for 924).
JOBS   ?= 4

.PHONY: up up-shop test lint typecheck boundaries unit bench install clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=..." >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/isles up $(ARGS)

# The second system on the platform (issue 18): the shop, in its own data folder.
up-shop: $(STAMP)
	$(BIN)/isles up --system shop --data-dir .isles/shop $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/isles lint --format github
	$(BIN)/isles --system shop lint --format github

# The modules' bytecode is compiled once before the tests: where PYTHONDONTWRITEBYTECODE
# is set (this machine sets it) every Python process the tests start (each `isles serve`,
# `isles up`, benchmark, CLI call, and each worker) would otherwise compile the modules it
# imports again, about 0.2-0.3 s of CPU apiece (docs/testing.md).
test: lint
	$(BIN)/python -m compileall -q -j 0 src tests benchmarks tools
	$(BIN)/pytest -n $(JOBS) --durations=25 $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e" $(PYTEST_ARGS)

# The kernel benchmark, short (meant to take under two minutes on a quiet machine):
# SQLite, PostgreSQL and NATS side by side. The full run and the other benchmarks:
# docs/performance.md, docs/operations.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/kernel.py --quick $(ARGS)

clean:
	rm -rf $(VENV) .isles .pytest_cache .mypy_cache .ruff_cache
