"""The bare baseline of the HTTP benchmark, for running it by hand.

    .venv/bin/uvicorn --app-dir bench bare_app:app --port 8001 --log-level warning --no-access-log

It is :func:`lendguard.simulate.benchmark.create_bare_app`: a FastAPI ``POST /v1/events`` that
reads the body and returns a constant JSON (and ``GET /healthz``). ``bench/run_all.py`` and
``lendguard bench`` serve that same factory with uvicorn, one worker, in their own process.
"""

from __future__ import annotations

from lendguard.simulate.benchmark import create_bare_app

app = create_bare_app()
