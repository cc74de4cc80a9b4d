# The README's two commands: `make run` (the whole local stack) and `make test` (everything CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
STAGE ?= prod
REGION ?= ap-east-1

.PHONY: run test lint typecheck pytest chromium sync package layers clean bench publish-menu

$(DEPS): requirements.txt requirements-dev.txt functions/his_bridge/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

## run: start moto, the HIS simulator, the SQS pump, chalice local and the H5 pages (Ctrl-C stops)
run: $(DEPS)
	$(PY) -m devstack

## test: ruff, mypy, and every test (unit, functional, integration, e2e in headless Chromium)
test: $(DEPS) chromium lint typecheck pytest

lint: $(DEPS)
	$(VENV)/bin/ruff check .

typecheck: $(DEPS)
	$(VENV)/bin/mypy

pytest: $(DEPS) chromium
	$(VENV)/bin/pytest

## chromium: the browser tests need Debian's Chromium; install it if it is missing
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else \
	    echo "Chromium is missing: run 'sudo apt-get install -y chromium fonts-wqy-zenhei' (needs root)"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-zenhei; \
	fi

## sync: queue a reference-data sync on the running local stack and wait for it
sync: $(DEPS)
	$(PY) -m chalicelib.cli sync-reference --stage local --wait

## bench: benchmarks (figures and same-run ratios are printed; never part of `make test`): the webhook, then
## the release rush on the local stack (2,000 bookers, 100 slots; a few minutes)
bench: $(DEPS)
	$(PY) -m tests.bench.webhook
	$(PY) -m tests.bench.release_rush

## publish-menu: publish the official account's menu (chalicelib/domain/menu.py) for STAGE (default local)
publish-menu: $(DEPS)
	$(PY) -m chalicelib.cli publish-menu --stage $(or $(MENU_STAGE),local)

## layers: build the bridge's dependency layer for Lambda (manylinux wheels)
layers: $(DEPS)
	PYTHON=$(PY) bash layers/his_bridge_deps/build.sh

## package: one SAM template (Chalice app + infra/resources.yaml) in build/cfn/sam.yaml, linted
package: $(DEPS) layers
	rm -rf build/cfn
	AWS_DEFAULT_REGION=$(REGION) $(VENV)/bin/chalice package --stage $(STAGE) \
		--merge-template infra/resources.yaml build/cfn
	$(VENV)/bin/cfn-lint --regions $(REGION) -- build/cfn/sam.yaml
	@echo "Next: aws cloudformation package / deploy (see README, Deploying)."

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache layers/*/build
