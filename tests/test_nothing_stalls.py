"""Nothing stalls the event loop: measured against a real server.

``lendguard.asgi:app`` runs under uvicorn in its own process (one worker, SQLite, 127.0.0.1 on a
free port). A stream of single events (``POST /v1/events``, one at a time on a kept-alive
connection) is timed alone, then while 20 parallel failed console logins run (argon2 hashes),
then while one 1,000-event batch runs. The issue's bound: the events' p99 rises by less than
50 ms.

The machine running the suite may be small and shared, so each comparison is made twice at
most: a figure over the bound is measured again (baseline and loaded window afresh) before the
test fails. The bound itself is never widened. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import _reset_postgres
from fixtures import ADMIN_KEY, USER_PASSWORD, make_event
from lendguard.auth.users import UserService
from lendguard.db import make_engine
from lendguard.simulate.benchmark import _serve

BOUND_S = 0.050  # the bound on the rise of the p99
BASELINE_EVENTS = 200
LOGINS = 20
LOGIN_ROUNDS = 1
BATCH_EVENTS = 1_000
BATCH_ROUNDS = 2
USERNAME = "ops-latency"

_ids = itertools.count(1)


@dataclass
class Server:
    url: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("nothing-stalls")
    if request.param == "sqlite":
        db = workdir / "lendguard.db"
        db.write_bytes(sqlite_template.read_bytes())
        url = f"sqlite:///{db}"
    else:
        url = request.getfixturevalue("postgres_database")
        _reset_postgres(url)
    engine = make_engine(url)
    try:
        UserService(engine).create(USERNAME, USER_PASSWORD, "analyst", "en")
    finally:
        engine.dispose()
    env = {
        "LENDGUARD_DATABASE_URL": url,
        "LENDGUARD_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "LENDGUARD_LOG_LEVEL": "WARNING",
        "LENDGUARD_COOKIE_SECURE": "false",
        "LENDGUARD_STATE_BACKEND": "memory",
        # High enough that every one of the test's failed logins is hashed (the limits would
        # otherwise answer most of them with a cheap 429 and the test would measure nothing).
        "LENDGUARD_LOGIN_RATE_PER_IP": "100000",
        "LENDGUARD_LOGIN_BURST_PER_IP": "100000",
        "LENDGUARD_LOGIN_RATE_PER_USERNAME": "100000",
        "LENDGUARD_LOGIN_BURST_PER_USERNAME": "100000",
    }
    with _serve("lendguard.asgi:app", env, workdir) as served:
        yield Server(f"http://127.0.0.1:{served.port}")


def _event() -> dict[str, Any]:
    n = next(_ids)
    return make_event(event_id=f"stall-{n:07d}", customer_id=f"stall-cust-{n % 97}")


JSON = {"Content-Type": "application/json"}

# A load: ``prepare()`` builds everything up front and returns ``(run, check)``; ``run`` does
# only the network I/O, and ``check`` looks at the answers once the window is over. (The
# client shares one interpreter: building or parsing 1,000 events inside the window would
# hold its GIL and show up as latency that is the client's own.)
Load = Callable[[], tuple[Callable[[], None], Callable[[], None]]]


def _send_event(client: httpx.Client) -> float:
    body = orjson.dumps(_event())
    started = time.perf_counter()
    response = client.post("/v1/events", content=body, headers=JSON)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def _baseline(client: httpx.Client) -> list[float]:
    return [_send_event(client) for _ in range(BASELINE_EVENTS)]


def _beside(client: httpx.Client, load: Load, rounds: int) -> list[float]:
    """Single events sent one after another for as long as the load runs, ``rounds`` times."""
    samples: list[float] = []
    for _ in range(rounds):
        run, check = load()
        errors: list[BaseException] = []

        def guarded(run: Callable[[], None] = run, errors: list[BaseException] = errors) -> None:
            try:
                run()
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        worker = threading.Thread(target=guarded)
        worker.start()
        while worker.is_alive():
            samples.append(_send_event(client))
        # One more after the load, so that a stall ending with it is counted.
        samples.append(_send_event(client))
        worker.join()
        if errors:
            raise errors[0]
        check()
    return samples


def _failed_logins(base_url: str, logins: int = LOGINS) -> Load:
    def prepare() -> tuple[Callable[[], None], Callable[[], None]]:
        start = threading.Barrier(logins)
        statuses: list[int] = []
        form = {"username": USERNAME, "password": "not-the-password-at-all"}

        # The clients are made before the window (building one loads a TLS context: CPU and
        # the client's GIL, which would show up as the measured events' latency).
        clients = [httpx.Client(base_url=base_url, timeout=60) for _ in range(logins)]

        def one(client: httpx.Client) -> None:
            start.wait()
            response = client.post("/console/login", data=form, follow_redirects=False)
            statuses.append(response.status_code)

        def run() -> None:
            threads = [threading.Thread(target=one, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        def check() -> None:
            for client in clients:
                client.close()
            # Every login was refused after its password was checked: none was rate limited.
            assert statuses == [401] * logins, statuses

        return run, check

    return prepare


def _batch(base_url: str, size: int = BATCH_EVENTS) -> Load:
    def prepare() -> tuple[Callable[[], None], Callable[[], None]]:
        body = orjson.dumps({"events": [_event() for _ in range(size)]})
        answers: list[httpx.Response] = []

        client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120
        )

        def run() -> None:
            answers.append(client.post("/v1/events/batch", content=body, headers=JSON))

        def check() -> None:
            client.close()
            (response,) = answers
            assert response.status_code == 200, response.text
            assert len(orjson.loads(response.content)["decisions"]) == size

        return run, check

    return prepare


def _measure(server: Server, load: Load, warm: Load, rounds: int, what: str) -> None:
    figures = []
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120
    ) as client:
        # Warm up: the connection, caches, first commits, and the load's endpoint once (a
        # fresh process does one-time work on an endpoint's first call: FastAPI reads the
        # endpoint's source location, pydantic builds schemas).
        for _ in range(5):
            _send_event(client)
        run, check = warm()
        run()
        check()
        for _attempt in range(2):
            alone = _baseline(client)
            loaded = _beside(client, load, rounds)
            base_p99, loaded_p99 = _p99(alone), _p99(loaded)
            figure = (
                f"{what}: p99 alone {base_p99 * 1e3:.1f} ms ({len(alone)} events), "
                f"beside the load {loaded_p99 * 1e3:.1f} ms ({len(loaded)} events), "
                f"median {statistics.median(alone) * 1e3:.1f} / "
                f"{statistics.median(loaded) * 1e3:.1f} ms, "
                f"max beside {max(loaded) * 1e3:.1f} ms"
            )
            print(figure)  # noqa: T201 - the measured figures, read with pytest -s
            figures.append(figure)
            if loaded_p99 - base_p99 < BOUND_S:
                return
    raise AssertionError(
        f"the events' p99 rose by 50 ms or more beside {what}, twice: " + "; ".join(figures)
    )


def test_20_parallel_failed_logins_do_not_stall_single_events(server: Server) -> None:
    _measure(
        server,
        _failed_logins(server.url),
        _failed_logins(server.url, 1),
        LOGIN_ROUNDS,
        f"{LOGINS} parallel failed logins",
    )


def test_a_1000_event_batch_does_not_stall_single_events(server: Server) -> None:
    _measure(
        server,
        _batch(server.url),
        _batch(server.url, 10),
        BATCH_ROUNDS,
        f"a {BATCH_EVENTS}-event batch",
    )
