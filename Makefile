# LendGuard: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install browser demo test lint typecheck unit bench eval serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium (and a CJK font for readable zh-CN screenshots) for the console's browser
# test; Playwright drives it with executable_path, it never downloads a browser.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei >/dev/null); \
	else echo "chromium missing: install Debian's chromium package (the browser test skips without it)"; fi

demo: install
	$(BIN)/lendguard demo $(ARGS)

serve: install
	$(BIN)/lendguard serve $(ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/lendguard rules lint

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
