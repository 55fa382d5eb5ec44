# `make test` and `make demo` work on a fresh machine: the venv is created on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo bench schema templates clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict pipeline schemas sandbox

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/campaigns run --sandbox input_templates/example.xlsx

bench: $(STAMP)
	$(BIN)/python -m bench

# Regenerate the committed, generated files after changing the catalogue.
schema: $(STAMP)
	$(BIN)/python -m schemas.payload

templates: $(STAMP)
	$(BIN)/campaigns template --force -o input_templates/campaigns.xlsx
	$(BIN)/campaigns template --force -o input_templates/campaigns.csv
	$(BIN)/campaigns template --force --example -o input_templates/example.xlsx
	$(BIN)/campaigns template --force --example -o input_templates/example.csv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
