"""The console's case queue with many open cases: how long a page takes (a benchmark, not a test).

    .venv/bin/python bench/console_queue.py [--cases 10000] [--repeats 50] [--seed 7]
                                            [--out FILE] [--profile] [--top 30]

Builds the real app (``lendguard.app.create_app``) on a fresh SQLite file, bulk-inserts
``--cases`` open cases straight into the ``cases`` table (SQLAlchemy Core), creates an analyst,
signs in through ``POST /console/login`` and times, with the session cookie, ``--repeats``
requests each of:

- ``GET /console/cases``          the queue page (page 1, 50 rows, risk desc then opened_at)
- ``GET /console/cases?page=100`` a deep page (offset 4,950 with 10,000 cases)
- ``GET /v1/cases?limit=50``      the JSON API over the same ``CaseService.queue``
- ``GET /healthz``                the reference: the same client and app doing no work

The URLs take turns (one request each per round) after a few untimed warm-up requests, so a
slow spell on the machine hits them all alike. Each request is timed on the client, around
``TestClient.get`` (in-process ASGI, no socket). ``service_queue_page_1`` also times
``CaseService.queue(limit=50)`` called directly, without HTTP or the template.

When ``LENDGUARD_BENCH_DATABASE_URL`` names a PostgreSQL database, the same run is repeated
there in a throw-away schema (created and dropped, as for ``in_process_postgres``).

The goal (issue "cases and the console"): page 1 of the queue in under 300 ms with 10,000 open
cases, judged on the SQLite run's p99. ``--profile`` adds a cProfile of the page-1 handler
(called directly in this thread, so the profile sees the route, the query and the template).

``make bench`` runs this after the main blocks (``bench/run_all.py --no-console-queue`` skips
it) and keeps the result under ``console_queue``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

TARGET_MS = 300.0
DEFAULT_CASES = 10_000
DEFAULT_REPEATS = 50
DEFAULT_SEED = 7
WARMUP = 3
PAGE_SIZE = 50
DEEP_PAGE = 100
USERNAME = "bench-analyst"
PASSWORD = "bench-analyst-password"  # a throw-away user in a throw-away database

# The open states, and how a real queue is spread over them.
STATES = (("new", 0.6), ("triage", 0.25), ("contacting_customer", 0.15))
# case type -> (weight, the scam types (call scripts) filed under it, SLA minutes range)
CASE_TYPES: dict[str, tuple[float, tuple[str, ...], tuple[int, int]]] = {
    "scam": (
        0.55,
        (
            "safe_account",
            "remote_control",
            "impersonation",
            "advance_fee",
            "task_rebate",
            "investment",
        ),
        (30, 60),
    ),
    "account_takeover": (0.2, ("account_takeover",), (60, 120)),
    "mule": (0.1, ("mule",), (120, 240)),
    "fraud": (0.15, ("general",), (120, 240)),
}


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]


def case_rows(n: int, seed: int, now: datetime) -> list[dict[str, Any]]:
    """``n`` open cases: opened over the last 3 days, SLA 30-240 min (so most are overdue)."""
    rng = random.Random(seed)
    types = [(name, spec[0]) for name, spec in CASE_TYPES.items()]
    customers = max(1, n * 4 // 5)  # a few customers have more than one open case
    rows = []
    for i in range(n):
        case_type = _pick(rng, types)
        _, scam_types, (sla_lo, sla_hi) = CASE_TYPES[case_type]
        opened = now - timedelta(seconds=rng.uniform(0, 3 * 24 * 3600))
        sla_due = opened + timedelta(minutes=rng.randint(sla_lo, sla_hi))
        state = _pick(rng, STATES)
        # Riskier cases are rarer; a block decision scores high.
        risk = min(100, int(rng.triangular(0, 100, 70)))
        held = round(rng.lognormvariate(8.0, 1.2), 2) if rng.random() < 0.8 else 0.0
        rows.append(
            {
                "id": f"case_{int(opened.timestamp() * 1000):012x}{i:016x}",
                "customer_id": f"cust_{rng.randrange(customers):06d}",
                "case_type": case_type,
                "state": state,
                "risk": risk,
                "scam_type": rng.choice(scam_types),
                "is_elderly": rng.random() < 0.1,
                "held_amount": held,
                "assignee": "user:analyst-" + str(rng.randrange(8)) if state != "new" else None,
                "outcome": None,
                "opened_at": opened,
                "updated_at": opened + (sla_due - opened) / 2 if state != "new" else opened,
                "sla_due_at": sla_due,
                "resolved_at": None,
                "reopen_count": 0,
                "revision": 1 if state == "new" else 2,
            }
        )
    return rows


def percentiles(latencies_ms: Sequence[float]) -> dict[str, Any]:
    """p50 / p90 / p99 (nearest rank, as in ``lendguard.simulate.benchmark``), max and mean,
    in ms."""
    ordered = sorted(latencies_ms)
    done = len(ordered)
    if done == 0:
        return {"requests": 0}

    def pct(p: float) -> float:
        rank = max(0, min(done - 1, int(round(p / 100.0 * done + 0.5)) - 1))
        return round(ordered[rank], 2)

    return {
        "requests": done,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(sum(ordered) / done, 2),
    }


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lendguard-queue-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'q.db'}"
        return
    from lendguard.simulate.benchmark import BENCH_DATABASE_ENV, _fresh_postgres

    with _fresh_postgres(os.environ[BENCH_DATABASE_ENV]) as scoped:
        yield scoped


def _check(label: str, response: Any, n_cases: int, want_rows: int) -> int:
    """Rows on the page; raise if the response is not the page it should be."""
    if response.status_code != 200:
        raise RuntimeError(f"{label}: HTTP {response.status_code}: {response.text[:300]}")
    if label.startswith("console_queue"):
        rows = int(response.text.count('data-case="'))
    elif label.startswith("api_cases"):
        body = response.json()
        if body["total"] != n_cases:
            raise RuntimeError(f"{label}: total {body['total']}, expected {n_cases}")
        rows = len(body["cases"])
    else:
        return 0
    if rows != want_rows:
        raise RuntimeError(f"{label}: {rows} rows, expected {want_rows}")
    return rows


def _profile_page_1(app: Any, token: str, top: int) -> str:
    """cProfile of the page-1 handler, called directly (TestClient runs it in another thread)."""
    from starlette.requests import Request

    from lendguard.console.routes import queue

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("localhost", 80),
        "path": "/console/cases",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"cookie", f"lg_session={token}".encode())],
        "app": app,
    }
    queue(Request(scope))  # warm
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        queue(Request(scope))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write("20 calls of lendguard.console.routes.queue (page 1); by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write("by own time\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def bench_backend(
    backend: str,
    n_cases: int,
    repeats: int,
    seed: int,
    profile: bool = False,
    top: int = 30,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """One run: a fresh database, ``n_cases`` open cases, every URL timed ``repeats`` times."""
    from sqlalchemy import func, insert, select

    with warnings.catch_warnings():
        # Starlette 1.x warns that its TestClient will move off httpx; nothing to do here.
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        from starlette.testclient import TestClient

    from lendguard.app import create_app
    from lendguard.auth.dependencies import SESSION_COOKIE
    from lendguard.config import Settings
    from lendguard.models.cases import Case

    with _database(backend) as url:
        settings = Settings(
            _env_file=None,
            database_url=url,
            log_level="WARNING",
            cookie_secure=False,
            bootstrap_admin_key=None,
        )
        started = time.perf_counter()
        app = create_app(settings)
        services = app.state.services
        engine = services.decisions.db
        table = Case.metadata.tables["cases"]
        rows = case_rows(n_cases, seed, datetime.now(UTC))
        with engine.begin() as conn:
            for at in range(0, len(rows), 2_000):
                conn.execute(insert(table), rows[at : at + 2_000])
        with engine.connect() as conn:
            open_cases = conn.execute(select(func.count()).select_from(Case)).scalar_one()
        setup_s = time.perf_counter() - started
        log(f"{backend}: {open_cases:,} open cases inserted ({setup_s:.1f} s with the app)")
        services.users.create(USERNAME, PASSWORD, "analyst", "zh-CN")

        pages = max(1, -(-n_cases // PAGE_SIZE))
        deep = min(DEEP_PAGE, pages)
        deep_rows = min(PAGE_SIZE, n_cases - (deep - 1) * PAGE_SIZE)
        urls = {
            "console_queue_page_1": ("/console/cases", min(PAGE_SIZE, n_cases)),
            f"console_queue_page_{deep}": (f"/console/cases?page={deep}", deep_rows),
            "api_cases_limit_50": (f"/v1/cases?limit={PAGE_SIZE}", min(PAGE_SIZE, n_cases)),
            "healthz": ("/healthz", 0),
        }
        result: dict[str, Any] = {
            "backend": backend,
            "database": "sqlite file (WAL)" if backend == "sqlite" else "postgresql schema",
            "open_cases": open_cases,
            "repeats": repeats,
            "warmup": WARMUP,
            "setup_s": round(setup_s, 2),
        }
        with TestClient(app, base_url="http://localhost") as client:
            login = client.post(
                "/console/login",
                data={"username": USERNAME, "password": PASSWORD},
                follow_redirects=False,
            )
            token = client.cookies.get(SESSION_COOKIE)
            if login.status_code != 303 or not token:
                raise RuntimeError(f"login failed: HTTP {login.status_code}, no session cookie")

            first: dict[str, float] = {}
            page_rows: dict[str, int] = {}
            for label, (path, want) in urls.items():
                for i in range(WARMUP):
                    t0 = time.perf_counter()
                    response = client.get(path)
                    if i == 0:
                        first[label] = (time.perf_counter() - t0) * 1000
                    page_rows[label] = _check(label, response, open_cases, want)
            timings: dict[str, list[float]] = {label: [] for label in urls}
            for _ in range(repeats):
                for label, (path, want) in urls.items():
                    t0 = time.perf_counter()
                    response = client.get(path)
                    timings[label].append((time.perf_counter() - t0) * 1000)
                    _check(label, response, open_cases, want)
            service_ms = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                services.cases.queue(limit=PAGE_SIZE, offset=0)
                service_ms.append((time.perf_counter() - t0) * 1000)
            html_bytes = len(client.get("/console/cases").content)

            for label, (path, _) in urls.items():
                result[label] = {
                    "url": path,
                    "rows": page_rows[label],
                    **percentiles(timings[label]),
                    "first_ms": round(first[label], 2),
                }
            result["console_queue_page_1"]["html_bytes"] = html_bytes
            result["service_queue_page_1"] = {
                "call": f"CaseService.queue(limit={PAGE_SIZE}, offset=0)",
                **percentiles(service_ms),
            }
            if profile:
                result["profile"] = _profile_page_1(app, token, top)
        engine.dispose()
        log(
            f"{backend}: page 1 p99 {result['console_queue_page_1']['p99_ms']} ms, "
            f"healthz p99 {result['healthz']['p99_ms']} ms"
        )
        return result


def run_console_queue(
    n_cases: int = DEFAULT_CASES,
    repeats: int = DEFAULT_REPEATS,
    seed: int = DEFAULT_SEED,
    profile: bool = False,
    top: int = 30,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The whole block: SQLite, PostgreSQL when configured, the machine and the goal."""
    from lendguard.simulate.benchmark import BENCH_DATABASE_ENV, machine_info

    result: dict[str, Any] = {
        "machine": machine_info(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {"open_cases": n_cases, "repeats": repeats, "seed": seed},
    }
    result["sqlite"] = bench_backend("sqlite", n_cases, repeats, seed, profile, top, log)
    if os.environ.get(BENCH_DATABASE_ENV):
        result["postgres"] = bench_backend("postgres", n_cases, repeats, seed, profile, top, log)
    else:
        result["postgres"] = None
        log(f"postgres: skipped ({BENCH_DATABASE_ENV} is not set)")
    measured = result["sqlite"]["console_queue_page_1"]["p99_ms"]
    result["goal"] = {
        "target_ms": TARGET_MS,
        "measured_p99_ms": measured,
        "met": measured <= TARGET_MS,
        "open_cases": n_cases,
        "backend": "sqlite",
    }
    if result["postgres"] is not None:
        result["goal"]["postgres_p99_ms"] = result["postgres"]["console_queue_page_1"]["p99_ms"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the console's case queue page.")
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="open cases to insert")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed GETs per URL")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--profile", action="store_true", help="cProfile the page-1 handler")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.repeats < 1:
        parser.error("--cases and --repeats must be at least 1")

    result = run_console_queue(
        args.cases,
        args.repeats,
        args.seed,
        args.profile,
        args.top,
        log=lambda line: print(line, file=sys.stderr),
    )
    for backend in ("sqlite", "postgres"):
        block = result.get(backend) or {}
        if "profile" in block:
            print(f"--- {backend} ---\n{block.pop('profile')}", file=sys.stderr)
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
