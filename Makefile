# Entry points for people and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup lint test molecule e2e unit integration demo lab-prereqs test-prereqs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check deployer tests bench roles
	$(BIN)/ruff format --check deployer tests bench roles
	$(BIN)/mypy
	$(BIN)/yamllint --strict inventories roles charts deployer/playbooks .yamllint
	$(BIN)/python -m deployer.kube.lint -e k8s-prod

unit: setup
	$(BIN)/pytest -m 'not integration' tests

integration: setup test-prereqs
	$(BIN)/pytest -m integration tests

test: lint test-prereqs
	$(BIN)/pytest tests

# Every role's molecule scenario (converge, idempotence, testinfra verify) on three small labs.
molecule: setup lab-prereqs
	$(BIN)/pytest -m molecule tests/integration/test_molecule.py

# Only the end-to-end package: staging deployed from the bastion, then failovers, drills, upgrades.
e2e: setup test-prereqs
	$(BIN)/pytest tests/integration/cluster

lab-prereqs:
	bash deployer/lab/prereqs.sh

# What the integration tests need beyond the lab: a registry server for image pushes and
# PostgreSQL 15 binaries for the stand-in's own tests.
TEST_PACKAGES := docker-registry postgresql-15 gnupg chromium
test-prereqs: lab-prereqs
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "test-prereqs: installing $$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# The whole job on the lab: validate, bundle, lab up, deploy, health. Deploys the real Mattermost
# release with MATTERMOST_TARBALL=path-or-URL, else the stand-in (a test double; it says so).
DEMO_ENV ?= staging
MATTERMOST_TARBALL ?=
demo: setup lab-prereqs
	@set -e; tarball="$(MATTERMOST_TARBALL)"; \
	if [ -z "$$tarball" ]; then \
	  version=$$($(BIN)/python -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["mattermost"]["version"])' inventories/$(DEMO_ENV)/topology.yml) && \
	  $(BIN)/python tests/standin/build_tarball.py "$$version" --out-dir build/cache/standin >/dev/null && \
	  tarball=build/cache/standin/mattermost-$$version-linux-amd64.tar.gz; \
	fi; \
	$(BIN)/deployer demo -e $(DEMO_ENV) --mattermost-tarball "$$tarball"

bench: setup test-prereqs
	for b in bench/*.py; do $(BIN)/python $$b || exit $$?; done

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
