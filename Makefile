# `make test` and `make demo` work on a fresh machine: the venv is created on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tested versions of every dependency (runtime and dev), for Python 3.11 on Linux.
LOCK := requirements.lock

.PHONY: test test-fast test-browser lint lock demo bench schema templates clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

# Regenerate $(LOCK) from pyproject.toml with uv (needs the package index). It keeps the
# pins it has unless pyproject.toml needs others; `make lock LOCK_FLAGS=--upgrade` takes
# the newest versions allowed. Then run `make test` (it reinstalls from the new lock).
LOCK_FLAGS ?=
lock:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' \
		--quiet $(LOCK_FLAGS) -o $(LOCK)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict pipeline schemas sandbox web

# The tests run on $(WORKERS) worker processes (pytest-xdist; every machine here has two
# cores); `make test WORKERS=0` runs them in this one process. `--dist loadgroup` keeps
# the tests marked `xdist_group` on one worker, one after the other. Their temporary
# folders are in memory (/dev/shm, where there is one): the ledger syncs every commit to
# disk, which on a real disk shared by two workers is a good part of the time.
WORKERS ?= 2
TEST_TMP := $(wildcard /dev/shm)
PYTEST := $(if $(TEST_TMP),TMPDIR=$(TEST_TMP) )$(BIN)/python -m pytest -q -n $(WORKERS) \
	--dist loadgroup

test: lint
	$(PYTEST)

# The tests without the subprocess and real-loopback ones (marked `slow`), and no lint.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

# The browser tests of `campaigns serve` (Playwright driving Debian's Chromium; without
# Chromium they skip), Chromium installed first when it is missing.
CHROMIUM_INSTALL := command -v chromium >/dev/null || { apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
test-browser: $(STAMP)
	$(CHROMIUM_INSTALL)
	$(PYTEST) tests/test_web_browser.py

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
