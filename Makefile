# WikiStream: `make demo`, `make run`, `make test` create and reuse .venv by themselves.
SHELL  := bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
# One command resolves the lock from every extra the code uses, not only `dev`.
LOCK_CMD = $(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 --quiet

.DEFAULT_GOAL := help
.PHONY: help install runtime demo serve run system-deps test test-fast check lint typecheck lock-check iac-check bench eval docs lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@# Bytecode now: with PYTHONDONTWRITEBYTECODE set, every start would compile every module.
	$(BIN)/python -m compileall -q src
	@touch $(STAMP)

install: $(STAMP) ## Create/refresh the virtual environment from the lock file

# The container image runs exactly this (Dockerfile), and a test runs it too.
RUNTIME_EXTRAS ?= web,kafka,msk,postgres,aws
runtime: ## Install WikiStream with its runtime extras only into VENV (the image's step), lock-pinned
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python \
	  --constraint requirements.lock ".[$(RUNTIME_EXTRAS)]"

demo: $(STAMP) ## Run the pipeline on the synthetic stream and print a summary
	$(BIN)/wikistream demo $(ARGS)

serve: $(STAMP) ## Serve the dashboard of the demo warehouse at http://127.0.0.1:8765/
	$(BIN)/wikistream serve $(ARGS)

run: $(STAMP) ## Ingest the live Wikimedia stream until Ctrl-C
	$(BIN)/wikistream run --source live $(ARGS)

system-deps: ## Install the system programs the tests drive (chromium, prometheus, strace, ab)
	@scripts/system-deps

# Parallel workers: most tests wait on real servers and processes. Each worker starts its own
# servers on free ports and writes to its own temporary folders.
WORKERS ?= 4
test: $(STAMP) system-deps ## Run the whole test suite (integration tests included), in parallel
	$(BIN)/pytest -n $(WORKERS) --durations=15 $(ARGS)

test-fast: $(STAMP) ## Run the tests without the slower integration tests, in parallel
	$(BIN)/pytest -n $(WORKERS) -m "not integration" --durations=15 $(ARGS)

eval: $(STAMP) ## Measure the revert risk on the vendored labelled edits (docs/risk.md)
	$(BIN)/python bench/risk_eval.py $(ARGS)

check: lint typecheck lock-check iac-check ## Everything CI checks before the tests: lint, types, lock, IaC

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy

typecheck: $(STAMP) ## mypy --strict on src/
	$(BIN)/mypy

# checkov pins an old boto3: it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV      := checkov==3.3.30
$(CHECKOV_VENV)/.installed-$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(CHECKOV_VENV)/bin/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python "$(CHECKOV)"
	@touch $@

iac-check: $(CHECKOV_VENV)/.installed-$(CHECKOV) ## checkov on deploy/terraform (skips are justified in place)
	$(CHECKOV_VENV)/bin/checkov --directory deploy/terraform --framework terraform --quiet \
	  --compact --download-external-modules false --skip-download

lock-check: $(STAMP) ## Fail if requirements.lock is stale against pyproject.toml (all extras)
	@tmp=$$(mktemp -d) && cp requirements.lock $$tmp/requirements.lock && \
	  $(LOCK_CMD) -o $$tmp/requirements.lock && \
	  if diff -u <(grep -v '^#' requirements.lock) <(grep -v '^#' $$tmp/requirements.lock); then \
	    echo "requirements.lock is current"; rm -rf $$tmp; \
	  else echo "requirements.lock is stale: run 'make lock' and commit it" >&2; rm -rf $$tmp; exit 1; fi

bench: $(STAMP) ## Run the bronze benchmark (1,000,000 events), JSON on stdout
	$(BIN)/python bench/bronze.py $(ARGS)

docs: $(STAMP) ## Regenerate the generated parts of docs/ (the settings reference)
	$(BIN)/python -m tests.support.docs

lock: ## Re-resolve requirements.lock from pyproject.toml (a deliberate upgrade)
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install -q uv==0.13.9; }
	$(LOCK_CMD) -o requirements.lock

clean: ## Remove the virtual environment and caches (not your warehouse)
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
