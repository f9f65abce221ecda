# The README's two commands are `make run` and `make test`; everything else is plumbing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-16)
# Real market data lives beside the checkout (../shared/data); a clone made elsewhere from a
# local checkout finds it beside that checkout (its origin). Elsewhere set GREKKO_SHARED_DATA.
ORIGIN := $(shell git config --get remote.origin.url 2>/dev/null)
SHARED ?= $(firstword $(GREKKO_SHARED_DATA) $(wildcard $(abspath ../shared/data) $(if $(filter /%,$(ORIGIN)),$(abspath $(ORIGIN)/../shared/data))))
export GREKKO_SHARED_DATA := $(SHARED)
export GREKKO_SAMPLE_DATA ?= $(if $(wildcard $(SHARED)/ohlcv),$(SHARED)/ohlcv,)
# numba's on-disk cache only notices edits to a kernel's own file, not to the kernels it
# calls in other files: key the cache folder by the library's sources so it can never be stale.
SRC_HASH := $(shell find grekko_research strategies live -name '*.py' 2>/dev/null | LC_ALL=C sort | xargs cat 2>/dev/null | sha256sum | cut -c1-12)
export NUMBA_CACHE_DIR ?= $(abspath .cache/numba)/$(SRC_HASH)

# The contract toolchain (issue 17): pinned npm packages (solc, anvil, OpenZeppelin, Uniswap's
# bytecode for tests) in node_modules/, installed by `npm ci` when package-lock.json changes.
NPM_STAMP := node_modules/.installed-$(shell cat package-lock.json 2>/dev/null | sha256sum | cut -c1-16)

# The web console (web/, docs/console.md): its own npm packages in web/node_modules (React,
# TypeScript, esbuild, eslint), installed by `npm ci` when web/package-lock.json changes. The
# bundle it builds (live/api/console/) is committed, so a pip install serves it without npm;
# `make` rebuilds it when the sources or the API change.
WEB_STAMP := web/node_modules/.installed-$(shell cat web/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/package-lock.json
CONSOLE := live/api/console/SOURCE_HASH

.PHONY: run test walkthrough lint format install clean contracts console web-check browser

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The sweep tests start a real PostgreSQL server: Debian's package, installed when missing.
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	    echo "installing Debian's postgresql (the test suite starts a local server)"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $@

$(NPM_STAMP): package-lock.json package.json
	@command -v npm >/dev/null || { \
	    echo "installing Debian's nodejs and npm (the contract tests run solc and anvil from npm)"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@# --ignore-scripts: anvil's binary comes in its platform package; its postinstall would only
	@# try a download as a fallback.
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f node_modules/.installed-* && touch $@

$(WEB_STAMP): web/package-lock.json web/package.json
	@command -v npm >/dev/null || { \
	    echo "installing Debian's nodejs and npm (the web console is built with npm packages)"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@# --ignore-scripts: esbuild's binary comes in its platform package (@esbuild/linux-x64).
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f web/node_modules/.installed-* && touch $@

## The console's client types follow the API's OpenAPI document; then the bundle is built.
web/src/api/openapi.json: $(wildcard live/api/*.py) | $(STAMP)
	$(BIN)/python -m live.api.openapi_doc $@

web/src/api/schema.ts: web/src/api/openapi.json | $(WEB_STAMP)
	cd web && npx openapi-typescript src/api/openapi.json -o src/api/schema.ts

$(CONSOLE): $(WEB_SOURCES) web/src/api/schema.ts | $(WEB_STAMP)
	cd web && npx tsc --noEmit -p . && node build.mjs

console: $(CONSOLE)

## Type check and lint of the console; fails when its client types drift from the API.
web-check: $(WEB_STAMP)
	cd web && npx openapi-typescript src/api/openapi.json -o src/api/schema.ts --check
	cd web && npx tsc --noEmit -p . && npx eslint --max-warnings 0 src build.mjs eslint.config.js

## The console's browser tests drive Debian's chromium (Playwright's own download is not used).
browser:
	@command -v chromium >/dev/null || { \
	    echo "installing Debian's chromium (the web console's browser tests)"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

install: $(STAMP) $(NPM_STAMP) $(WEB_STAMP) browser $(CONSOLE)

## Compile contracts/ into the committed contracts/artifacts (pinned solc from npm, offline).
contracts: $(STAMP) $(NPM_STAMP)
	$(BIN)/python -m live.chain.build

## The main job: real data into the store, then the data-quality report.
run: $(STAMP)
	$(BIN)/grekko run

## The whole test suite, lint and type check included.
test: $(STAMP) $(NPM_STAMP) $(WEB_STAMP) browser $(CONSOLE)
	$(MAKE) --no-print-directory web-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=30

# The README walked as a new user would (a fresh clone outside this checkout, every command of
# its sections, both notebooks from the clone's root): ten minutes of a core, so not in `make
# test`'s 30-minute budget; run it before resolving anything user-facing.
walkthrough: $(STAMP) $(NPM_STAMP) browser
	$(BIN)/python -m pytest -m walkthrough tests/integration/test_readme_walkthrough.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules web/node_modules .cache .pytest_cache .ruff_cache
