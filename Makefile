# Ledgersync: every developer and CI command. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# schemathesis (the API fuzz run, tests/fuzz) brings its own hypothesis and jsonschema pins: a venv of its own
FUZZ_VENV := .venv-fuzz
FUZZ := $(FUZZ_VENV)/bin/schemathesis
SHARED ?= $(abspath ../shared)
export QBO_XSD_DIR ?= $(SHARED)/schemas/qbo
export QBXML_XSD_DIR ?= $(SHARED)/schemas/qbxml

.PHONY: help install run demo test test-unit test-integration lint format validate permissions scan build deploy lock bench bench-cold-start openapi pr clean redrive fuzz-venv chromium migrate

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

# the README's walkthroughs, run as written against the stack `make run` started (its .devstack/endpoints.json);
# API=http://127.0.0.1:<port> for another one
demo: $(STAMP) ## run every README walkthrough against the running `make run` stack, printing each step and its answer
	$(PY) -m devstack.demo $(if $(filter command line environment,$(origin API)),--api $(API))

test: $(STAMP) $(FUZZ) chromium ## every test (unit + integration + the API fuzz run), as CI runs them
	$(PY) -m pytest -n 2 --dist loadfile -q

$(FUZZ):
	@PY_BIN=$$(.ci/find-python) && $$PY_BIN -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/python -m pip install --quiet --upgrade pip 'schemathesis==4.32.5'

fuzz-venv: $(FUZZ) ## the schemathesis venv for tests/fuzz

# Debian's chromium renders /v1/docs headless in tests/integration/test_docs_page.py; installed when missing (root)
chromium: ## the headless browser of the docs page test
	@command -v chromium >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium; }

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

# checkov pins its own dependencies too: a venv of its own
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV):
	@PY_BIN=$$(.ci/find-python) && $$PY_BIN -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip 'checkov>=3.2'

validate: $(STAMP) $(SAM_STAMP) $(CHECKOV) ## cfn-lint, sam validate --lint, the permission check and the security scan
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1
	$(MAKE) --no-print-directory permissions scan

permissions: $(STAMP) ## every function's role allows exactly the AWS calls its code makes
	PYTHONPATH=layers/common/python:. $(PY) -m pytest tests/unit/test_permissions.py -q -p no:randomly

scan: $(CHECKOV) ## checkov on template.yaml (skipped rules carry their reason in the template)
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml

CONFIG_ENV ?= default
deploy: $(STAMP) $(SAM_STAMP) ## sam build + sam deploy (guided the first time; CONFIG_ENV=prod for another stage)
	$(MAKE) --no-print-directory build
	@if grep -q 'NotificationSender=' samconfig.toml && grep -q '^\[$(CONFIG_ENV).deploy' samconfig.toml; then \
		SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-env $(CONFIG_ENV); \
	else \
		SAM_CLI_TELEMETRY=0 $(SAM) deploy --guided --config-env $(CONFIG_ENV); \
	fi

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
	$(PY) bench/auto_sync.py --quick
	$(PY) bench/export.py --quick
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

# Move a dead-letter queue's messages back to their queue. Locally (moto has no start-message-move-task) through
# the running stack's admin route; on AWS: aws sqs start-message-move-task --source-arn <the DLQ's ARN>.
API ?= http://127.0.0.1:3000
redrive: ## make redrive QUEUE=SyncQueueDLQ (or SyncQueue, WebhookQueueDLQ, WebhookQueue) [API=http://...]
	@test -n "$(QUEUE)" || { echo "usage: make redrive QUEUE=<dead-letter queue logical id>"; exit 2; }
	@curl -sS --fail-with-body -X POST "$(API)/__devstack/redrive/$(QUEUE)"; status=$$?; echo; exit $$status

# One-off: move the sync state off purchase-order records (docs/decisions.md); safe to run twice and under traffic.
migrate: $(STAMP) ## make migrate TABLE=<the stack's table name>: move the sync state off purchase-order records
	@test -n "$(TABLE)" || { echo "usage: make migrate TABLE=<the stack's LedgersyncTable name>"; exit 2; }
	PYTHONPATH=layers/common/python $(PY) -m ledgersync.migrations.sync_state_off_po --table "$(TABLE)"

pr: lint validate test ## everything before a commit

clean:
	rm -rf $(VENV) $(SAM_VENV) $(FUZZ_VENV) .aws-sam .devstack .pytest_cache .mypy_cache .ruff_cache
