# LendGuard: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install demo test lint typecheck unit bench eval serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/lendguard demo $(ARGS)

serve: install
	$(BIN)/lendguard serve $(ARGS)

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy src

unit: install
	$(BIN)/pytest -q $(ARGS)

test: lint typecheck unit

bench: install
	$(BIN)/python bench/run_all.py $(ARGS)

eval: install
	$(BIN)/python bench/eval.py $(ARGS)

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
