# LendGuard: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install browser demo demo-alliance test lint typecheck unit chaos bench eval serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium (and a CJK font for readable zh-CN screenshots) for the console's browser
# test, and poppler-utils (pdftoppm) for the report's PDF test; Playwright drives Chromium with
# executable_path, it never downloads a browser. Chromium brings the Pango that WeasyPrint uses.
browser:
	@if [ -x /usr/bin/chromium ] && command -v pdftoppm >/dev/null; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null); pdftoppm: yes"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei poppler-utils >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei poppler-utils >/dev/null); \
	else echo "chromium or pdftoppm missing: install Debian's chromium and poppler-utils packages (the browser and PDF tests skip without them)"; fi

demo: install
	$(BIN)/lendguard demo $(ARGS)

# The alliance (issue #20) on this machine: three lenders' servers on free localhost ports, their
# databases under var/demo-alliance/; PSI, a lookup and an aggregation round, checked against
# what was loaded (exit 1 if not); the servers stop at the end. ARGS="--size 500 --json".
demo-alliance: install
	$(BIN)/lendguard alliance demo $(ARGS)

serve: install
	$(BIN)/lendguard serve $(ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/lendguard rules lint

typecheck: install
	$(BIN)/mypy src

# The fault matrix (tests/chaos) runs on its own target: minutes of real workers, NATS,
# PostgreSQL and Redis under faults, kept out of the unit suite's time budget.
# The unit suite runs on every core up to four (pytest-xdist; each worker has its own databases,
# NATS stream names and Redis keys). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
unit: install
	$(BIN)/pytest -q -n $(TEST_WORKERS) --maxprocesses=4 --ignore=tests/chaos $(ARGS)

test: lint typecheck unit

# Issue #17's fault matrix: the simulator's month (100,000 events; LENDGUARD_CHAOS_EVENTS for
# fewer) through JetStream and two `lendguard worker` processes while workers are killed with
# -9, Redis restarts and is flushed, PostgreSQL is unreachable and Redis is slow (through a TCP
# proxy); then nothing lost or decided twice, and the same decisions and window state as a
# one-process replay. Needs PostgreSQL, Redis and NATS JetStream (the LENDGUARD_TEST_* URLs).
chaos: install
	$(BIN)/pytest -q -s -p no:cacheprovider tests/chaos $(ARGS)

bench: install
	$(BIN)/python bench/run_all.py $(ARGS)

eval: install
	$(BIN)/python bench/eval.py $(ARGS)

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
