# The two commands of the README: `make run` and `make test`. Both create the
# virtual environment in .venv and install recsvc into it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := var/sample
export RECSVC_MODELS ?= models

.PHONY: run test lint browser sample clean

$(BIN)/recsvc: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(SAMPLE)/events.csv: | $(BIN)/recsvc
	$(BIN)/python scripts/sample_data.py --out $(SAMPLE)

sample: $(SAMPLE)/events.csv

## run: the service on the sample shop (model trained on first run), on $PORT (8000),
## with local API keys for the README's examples unless RECSVC_*_KEY are set
run: export RECSVC_ADMIN_KEY ?= local-admin-key
run: export RECSVC_WRITE_KEY ?= local-write-key
run: $(BIN)/recsvc $(SAMPLE)/events.csv
	@$(BIN)/recsvc models verify >/dev/null 2>&1 || \
		$(BIN)/recsvc train --events $(SAMPLE)/events.csv --items $(SAMPLE)/items.csv
	$(BIN)/recsvc models list
	$(BIN)/recsvc db upgrade
	$(BIN)/recsvc import-items --if-empty $(SAMPLE)/items.csv
	PATH="$(CURDIR)/$(BIN):$$PATH" sh -c "exec $$(sed -n 's/^web: *//p' Procfile)"

## lint: ruff (lint and format) and mypy
lint: $(BIN)/recsvc
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## test: lint, then the whole test suite (the browser tests need Debian's chromium:
## skipped without it, except under CI=true, where it is installed when missing)
test: lint browser
	$(BIN)/pytest

browser:
	@if [ "$$CI" = "true" ] && [ ! -x "$${RECSVC_CHROMIUM:-/usr/bin/chromium}" ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)); \
	fi

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
