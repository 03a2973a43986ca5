# labgate: set up, serve, test and lint.
#
#   make run          serve labgate at http://127.0.0.1:8000 (sets everything up first)
#   make help         list all targets
#
# Needs GNU make, Python >= 3.11 (with venv) and, for the front end, Node.js >= 20.19 on
# PATH; without such a node, a pinned one is installed from PyPI into .venv (see
# scripts/node-env.sh).
#
# Nothing is reinstalled or rebuilt unless its inputs changed: each setup step leaves a
# stamp file in .make/ whose prerequisites are the files that step depends on (lock
# files, pyproject.toml, the front end's sources). Delete .make/ to force everything.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# Overridable: make run PORT=9000 HOST=0.0.0.0 DATA_DIR=/srv/labgate
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= var
PYTHON ?= python3
PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 200

VENV := .venv
VENV_CFG := $(VENV)/pyvenv.cfg
PIP := $(VENV)/bin/python -m pip
STAMPS := .make
STATIC_DIR := src/labgate/web/static
TEST_RESULTS := test-results

# Never let anything download a browser: tests use Debian's /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

# Run npm in frontend/ with the node that scripts/node-env.sh chooses: the one on PATH if
# it is recent enough, otherwise one installed from requirements/node.lock into .venv/bin.
NPM = PATH="$$(scripts/node-env.sh)" && npm --prefix frontend

# The inputs of the front-end build (a few ms of `find` each time make reads this file).
FRONTEND_SOURCES = $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	$(wildcard frontend/index.html frontend/vite.config.* frontend/tsconfig*.json \
	           frontend/package.json frontend/env.d.ts frontend/.env*)

# A stamp is stale when the thing it stands for was deleted behind make's back.
FORCE_NPM_CI = $(if $(wildcard frontend/node_modules),,FORCE)
FORCE_BUILD = $(if $(wildcard $(STATIC_DIR)),,FORCE)

.PHONY: help run venv run-venv dev-venv frontend test test-deps fuzz lint format bench clean FORCE

help: ## List the targets
	@echo "Usage: make <target> [HOST=$(HOST)] [PORT=$(PORT)] [DATA_DIR=$(DATA_DIR)] [PYTEST_ARGS=...]"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

# As root, each user works on `local` as an OS account of their own, created at their
# first connection (docs/admin-guide.md, "The local resource").
run: run-venv frontend ## Set up everything and serve labgate (http://127.0.0.1:8000; HOST, PORT, DATA_DIR)
	exec env LABGATE_LOCAL_CREATE_ACCOUNTS="$${LABGATE_LOCAL_CREATE_ACCOUNTS:-true}" $(VENV)/bin/labgate serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# --- Python ---------------------------------------------------------------------------

venv: $(VENV_CFG)

$(VENV_CFG):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "labgate needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1)." \
		     "Use: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "Creating the virtualenv failed. On Debian: apt-get install python3-venv" >&2; \
		exit 1; }

run-venv: $(STAMPS)/run-deps ## .venv with what the server needs to run

dev-venv: $(STAMPS)/dev-deps ## .venv with the test and lint tools too

# The editable install is redone when pyproject.toml changes (entry points, packages).
$(STAMPS)/run-deps: requirements/run.lock pyproject.toml $(VENV_CFG)
	$(PIP) install -r requirements/run.lock
	$(PIP) install --no-deps -e .
	@mkdir -p $(@D) && touch $@

$(STAMPS)/dev-deps: requirements/dev.lock pyproject.toml $(VENV_CFG)
	$(PIP) install -r requirements/dev.lock
	$(PIP) install --no-deps -e .
	@mkdir -p $(@D) && touch $@

# --- front end ------------------------------------------------------------------------

frontend: $(STAMPS)/frontend-build ## Build the front end into src/labgate/web/static

# node-env.sh may install node into .venv, so the virtualenv comes first.
$(STAMPS)/npm-ci: frontend/package-lock.json frontend/package.json requirements/node.lock \
		$(FORCE_NPM_CI) | $(VENV_CFG)
	$(NPM) ci
	@mkdir -p $(@D) && touch $@

$(STAMPS)/frontend-build: $(STAMPS)/npm-ci $(FRONTEND_SOURCES) $(FORCE_BUILD)
	$(NPM) run build
	@mkdir -p $(@D) && touch $@

# --- checks ---------------------------------------------------------------------------

test-deps: ## Install what the tests need: Debian packages (chromium, slurm-wlm, ...), JupyterLab+TensorBoard
	scripts/install-test-deps.sh

# Both suites run even if the first fails; the exit status says whether anything failed.
# Pytest writes a JUnit report and the tests put screenshots and other artifacts in
# $(TEST_RESULTS)/ (exported as LABGATE_TEST_RESULTS).
test: test-deps dev-venv frontend ## Run the front-end unit tests and pytest (PYTEST_ARGS=...)
	mkdir -p $(TEST_RESULTS)
	export LABGATE_TEST_RESULTS="$(CURDIR)/$(TEST_RESULTS)"
	failed=()
	$(NPM) run test </dev/null || failed+=("front-end unit tests")
	$(VENV)/bin/python -m pytest --junitxml=$(TEST_RESULTS)/pytest.xml $(PYTEST_ARGS) \
		|| failed+=("pytest")
	if (( $${#failed[@]} )); then printf 'FAILED: %s\n' "$${failed[@]}" >&2; exit 1; fi

# make test fuzzes the API with a few examples per operation; this tries many more (same
# fixed seed, so a failure found here is found again by the same command).
fuzz: dev-venv ## Fuzz the API of a running server with schemathesis (FUZZ_EXAMPLES=200 per operation)
	LABGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/python -m pytest tests/test_api_fuzz.py $(PYTEST_ARGS)

lint: dev-venv $(STAMPS)/npm-ci ## ruff, mypy, import-linter, vue-tsc and eslint (runs all, fails if any fails)
	failed=()
	$(VENV)/bin/ruff check src tests benchmarks || failed+=("ruff check")
	$(VENV)/bin/ruff format --check src tests benchmarks || failed+=("ruff format")
	$(VENV)/bin/mypy || failed+=("mypy")
	$(VENV)/bin/mypy --strict tests/support benchmarks || failed+=("mypy tests/support benchmarks")
	PYTHONPATH=src $(VENV)/bin/lint-imports || failed+=("lint-imports")
	$(NPM) run typecheck || failed+=("npm run typecheck")
	$(NPM) run lint || failed+=("npm run lint")
	if (( $${#failed[@]} )); then printf 'FAILED: %s\n' "$${failed[@]}" >&2; exit 1; fi

# Formats even when `ruff check` finds something it cannot fix, then fails to say so.
format: dev-venv ## Fix what ruff can fix and reformat the Python code
	status=0
	$(VENV)/bin/ruff check --fix src tests || status=$$?
	$(VENV)/bin/ruff format src tests
	exit $$status

bench: dev-venv frontend ## Run the benchmarks (python -m benchmarks)
	@if [[ -f benchmarks/__main__.py ]]; then
		$(VENV)/bin/python -m benchmarks
	else
		echo "No benchmarks yet (benchmarks/__main__.py does not exist)."
	fi

clean: ## Remove .venv, stamps, node_modules, the built front end and test results
	rm -rf $(VENV) $(STAMPS) frontend/node_modules $(STATIC_DIR) $(TEST_RESULTS)

# Each recipe runs as one bash script (with -eu -o pipefail, see .SHELLFLAGS), so the
# multi-line recipes above (test, lint, format, bench) can keep state in shell variables.
.ONESHELL:

FORCE:
