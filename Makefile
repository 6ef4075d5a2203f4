# Ledgersync: every developer and CI command. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED ?= $(abspath ../shared)
export QBO_XSD_DIR ?= $(SHARED)/schemas/qbo
export QBXML_XSD_DIR ?= $(SHARED)/schemas/qbxml

.PHONY: help install run test test-unit test-integration lint format validate build lock bench bench-cold-start openapi pr clean

help:
	@grep -E '^[a-z-]+:.*?## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@PY_BIN=$$(.ci/find-python) && echo "creating $(VENV) with $$PY_BIN" && $$PY_BIN -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

run: $(STAMP) ## the whole service locally: moto, the local gateway, the emulators, a demo company
	$(PY) -m devstack

test: $(STAMP) ## every test (unit + integration), as CI runs them
	$(PY) -m pytest -n 2 --dist loadfile -q

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration -q

lint: $(STAMP) ## ruff + mypy strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/common/python/ledgersync functions devstack

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# aws-sam-cli pins its own pydantic/boto3, so it lives in a venv of its own; pinned so every build is the same
SAM_VENV := .venv-sam
SAM_VERSION := 1.170.0
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_VERSION)
# the Lambda runtime's python, for the layer, the .pyc files and bench/cold_start.py
PY312_ENV := PYENV_VERSION=3.12.1 PATH="$$(PYENV_VERSION=3.12.1 pyenv prefix 2>/dev/null)/bin:$$PATH"

$(SAM_STAMP):
	@PY_BIN=$$(.ci/find-python) && $$PY_BIN -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'
	@touch $(SAM_STAMP)

validate: $(STAMP) $(SAM_STAMP) ## cfn-lint and sam validate --lint
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1

build: $(STAMP) $(SAM_STAMP) ## sam build from requirements.lock (needs the runtime's python on PATH); handlers byte-compiled
	$(PY) layers/common/lockfile.py check
	SAM_CLI_TELEMETRY=0 LAYER_PLATFORM=$(LAYER_PLATFORM) $(PY312_ENV) $(SAM) build
	$(PY312_ENV) python3.12 -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

lock: $(STAMP) ## regenerate requirements.lock (hashes) from pyproject.toml [project].dependencies
	$(PY) layers/common/lockfile.py lock --uv $(VENV)/bin/uv

openapi: $(STAMP) ## write docs/openapi.json from the route models
	$(PY) -m devstack.openapi docs/openapi.json

bench: $(STAMP) ## print the benchmark figures
	$(PY) bench/invoice_create.py
	$(PY) bench/qbo_sync.py --quick
	$(PY) bench/webhook_sender.py
	$(PY) bench/qbwc.py
	@if [ -d .aws-sam/build/CommonLayer ]; then $(MAKE) --no-print-directory bench-cold-start; \
	  else echo "cold starts of the built layer: run \`make build\` first, then \`make bench\`"; fi

# the Lambda runtime's own boto3 (/var/runtime), from the lock, beside the built artifact
.aws-sam/lambda-runtime/.installed: requirements.lock
	$(PY) layers/common/lockfile.py export --runtime > .aws-sam/lambda-runtime.txt
	$(PY312_ENV) python3.12 -m pip install --quiet --require-hashes --no-deps -r .aws-sam/lambda-runtime.txt \
	  --target .aws-sam/lambda-runtime --upgrade
	@touch $@

bench-cold-start: .aws-sam/lambda-runtime/.installed
	$(PY312_ENV) python3.12 bench/cold_start.py

pr: lint validate test ## everything before a commit

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .devstack .pytest_cache .mypy_cache .ruff_cache
