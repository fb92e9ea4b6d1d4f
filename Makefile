# Quick start: `make demo`, `make test`. Both create or reuse .venv and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_SRC := $(wildcard protos/lsi/v1/*.proto)
PROTO_STAMP := protos/lsi/v1/.generated

.PHONY: setup protos demo dashboard browser test lint bench bench-peer clean

setup: $(STAMP) protos

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Stubs are generated, not committed: -I at the repo root so that the generated imports
# read `from protos.lsi.v1 import ...`, matching the Python package path.
protos: $(PROTO_STAMP)

$(PROTO_STAMP): $(PROTO_SRC) $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. $(PROTO_SRC)
	@touch $(PROTO_STAMP)

# The demo ends by serving the dashboard until Ctrl-C; `lsi demo` alone (as CI and tests run it) just stops.
demo: setup
	$(BIN)/lsi demo --dashboard

# A deployed dashboard: DASHBOARD_CONFIG names its dashboard.toml (docs/deploying.md).
DASHBOARD_CONFIG ?= dashboard.toml
dashboard: setup
	$(BIN)/lsi dashboard --config $(DASHBOARD_CONFIG)

# The browser tests drive Debian's chromium (never a downloaded browser); idempotent, needs root and apt.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "could not install chromium (not root?): the browser tests will be skipped outside CI"

test: setup browser
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,duckdb]'
	$(BIN)/python -m bench.run

# The peer (SmartNoise SQL 1.0.10) in its own environment: it pins an older OpenDP and pandas 2.
# bench.issue13 measures it side by side when this environment exists.
bench-peer:
	@test -x .venv-peer/bin/python || $(PYTHON) -m venv .venv-peer
	.venv-peer/bin/python -m pip install --quiet smartnoise-sql==1.0.10

clean:
	rm -rf $(VENV) protos/lsi/v1/*_pb2*.py protos/lsi/v1/*_pb2*.pyi $(PROTO_STAMP) .pytest_cache
