# Entry points for people and CI. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV ?= dev
STAMP := $(VENV)/.installed

.PHONY: setup lint test unit integration demo lab-prereqs bench clean

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
	$(BIN)/yamllint --strict $(wildcard inventories roles charts) .yamllint

unit: setup
	$(BIN)/pytest -m 'not integration' tests

integration: setup lab-prereqs
	$(BIN)/pytest -m integration tests

test: lint
	$(BIN)/pytest tests

lab-prereqs:
	bash deployer/lab/prereqs.sh

demo: setup
	$(BIN)/deployer demo -e $(ENV)

bench: setup
	for b in bench/*.py; do $(BIN)/python $$b || exit $$?; done

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
