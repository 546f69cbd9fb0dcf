# Entry points for people and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV ?= dev
STAMP := $(VENV)/.installed

.PHONY: setup lint test e2e unit integration demo lab-prereqs test-prereqs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check deployer tests bench
	$(BIN)/ruff format --check deployer tests bench
	$(BIN)/mypy
	$(BIN)/yamllint --strict inventories roles charts deployer/playbooks .yamllint
	$(BIN)/python -m deployer.kube.lint -e k8s-prod

unit: setup
	$(BIN)/pytest -m 'not integration' tests

integration: setup test-prereqs
	$(BIN)/pytest -m integration tests

test: lint test-prereqs
	$(BIN)/pytest -m 'not fullstack' tests

# Scenarios on the whole deployed cluster, app tier included (drills, upgrades, the bastion).
e2e: setup test-prereqs
	$(BIN)/pytest -m fullstack tests

lab-prereqs:
	bash deployer/lab/prereqs.sh

# What the integration tests need beyond the lab: a registry server for image pushes and
# PostgreSQL 15 binaries for the stand-in's own tests.
TEST_PACKAGES := docker-registry postgresql-15 gnupg chromium
test-prereqs: lab-prereqs
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "test-prereqs: installing $$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

demo: setup
	$(BIN)/deployer demo -e $(ENV)

bench: setup test-prereqs
	for b in bench/*.py; do $(BIN)/python $$b || exit $$?; done

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
