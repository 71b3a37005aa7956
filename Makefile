# MCP Fleet Console: the two quickstart commands and a few helpers.
#   make up     install, migrate and start web + worker + beat + the demo fleet on four emulated
#               clouds (embedded default; the `demo` extra brings moto for the AWS one)
#   make test   install the test dependencies and run the whole suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
ARGS ?=

.PHONY: up install install-test browser lint test bench clean

$(PY):
	@echo "Creating the virtualenv in $(VENV)…"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --upgrade pip uv

install: $(PY)
	@echo "Installing the console's dependencies (about a minute the first time)…"
	@$(UV) pip install --python $(PY) -e '.[demo]'

install-test: $(PY)
	$(UV) pip install --quiet --python $(PY) -e '.[test]'

# Browser tests drive Debian's chromium (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test…"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

up: install
	@echo "Starting MCP Fleet Console…"
	@$(PY) manage.py up $(ARGS)

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint deploy/Dockerfile

test: install-test browser lint
	$(PY) -m pytest $(ARGS)

bench: install-test
	$(PY) -m bench

clean:
	rm -rf $(VENV) var
