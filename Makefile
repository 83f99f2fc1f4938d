# batchd developer entry points. `make demo` and `make test` set everything up themselves on a
# fresh Debian machine (README Quick start); the other targets assume nothing either.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PYTEST_ARGS ?=

.PHONY: all setup system-deps demo test lint typecheck unit bench stress clean

all: test

# Debian packages: libsystemd-dev + pkg-config build systemd-python; parallel is the benchmark
# baseline; tmux drives terminal tests; zsh checks the zsh completion script; systemd (journald, systemd-analyze) and systemd-container
# (systemd-nspawn) run tests/systemd. Installed only when root and missing.
system-deps:
	@missing=""; for p in libsystemd-dev pkg-config parallel tmux zsh systemd systemd-container; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (run as root or install them)"; fi; \
	fi

# A plain editable install: new modules are picked up without reinstalling. mypy cannot see
# through its import finder, so `typecheck` builds a tree of symlinks (build/typecheck/batchd/*)
# and checks the packages there.
setup: system-deps
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PIP) install --upgrade pip setuptools wheel >/dev/null 2>&1
	@extras=dev; if pkg-config --exists libsystemd 2>/dev/null; then extras=dev,systemd; fi; \
	  $(PIP) install -e ".[$$extras]" >$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }

demo: setup
	VENV=$(VENV) examples/demo.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	@mkdir -p build/typecheck/batchd
	@for d in protocol daemon client; do ln -sfn ../../../$$d build/typecheck/batchd/$$d; done
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml \
	  -p batchd.protocol -p batchd.daemon -p batchd.client

unit: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: setup
	@mkdir -p bench-results
	@for b in tests/bench/bench_*.py; do echo "== $$b"; \
	  $(PY) $$b | tee bench-results/$$(basename $$b .py).txt || exit 1; done

# The suite's crash and fuzz tests, scaled up (each reads BATCHD_STRESS for its trial count).
stress: setup
	BATCHD_STRESS=1 $(VENV)/bin/pytest -m "slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
