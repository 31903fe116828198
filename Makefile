# `make quickstart` and `make test` are the README's first two commands.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup quickstart test test-slow lint gpu-check

setup: $(VENV)/.installed

# uv installs and byte-compiles in parallel: measured 36 s where pip took 67 s (2 cores). It
# reads pip's find-links (where a local CPU torch wheel may lie); pip installs when uv cannot.
FIND_LINKS = $(shell $(PYTHON) -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p")

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	($(PY) -m pip install -q uv && $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) \
	  $(foreach d,$(sort $(FIND_LINKS)),--find-links $(d)) -c constraints.txt -e '.[dev,postgres]') \
	|| $(PY) -m pip install -q -c constraints.txt -e '.[dev,postgres]'
	touch $@

quickstart: setup
	$(VENV)/bin/wsbench quickstart

# The default suite in parallel (pytest-xdist, one worker per core of a 2-core machine); the few
# tests marked slow run in `make test-slow`. `.ci/run` runs both.
TEST_WORKERS ?= 2

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-slow: setup
	$(PY) -m pytest -q -m slow -n $(TEST_WORKERS)

lint: setup
	$(VENV)/bin/ruff check .

# The CUDA path (a machine with a GPU): CUDA tests, a smoke sweep on cuda and cpu, record checks.
gpu-check: setup
	$(PY) benchmarks/gpu_check.py
