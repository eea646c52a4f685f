"""Two real API processes on one PostgreSQL database with shared state: nothing lost, nothing
counted twice, rings seen across processes, configuration followed.

Each server is ``lendguard.asgi:app`` under uvicorn in its own process
(``LENDGUARD_STATE_BACKEND=shared``). What one process decides, the other must see exactly as
a single process would have: the reference is the in-process engine (``EngineRun``) replaying
the same events in the order of the durable log (``events.seq``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conftest import _reset_postgres
from fixtures import ADMIN_KEY, T0, EngineRun, make_event, r39_control_events, r39_scam_events
from lendguard.db import make_engine
from lendguard.decisions.features.state import EntityState
from lendguard.decisions.rulesets import default_ruleset_text
from lendguard.events.parse import parse_event
from lendguard.models import EventRecord, SharedEntityState
from lendguard.simulate.benchmark import _serve

pytestmark = pytest.mark.postgres

HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
BURST = 200


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, postgres_database: str
) -> Iterator[tuple[str, list[str]]]:
    """Two API processes sharing one database (emptied first)."""
    _reset_postgres(postgres_database)
    workdir = tmp_path_factory.mktemp("two-processes")
    env = {
        "LENDGUARD_DATABASE_URL": postgres_database,
        "LENDGUARD_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "LENDGUARD_LOG_LEVEL": "WARNING",
        "LENDGUARD_STATE_BACKEND": "shared",
        "LENDGUARD_API_RATE_PER_KEY": "0",
    }
    with (
        _serve("lendguard.asgi:app", env, workdir) as one,
        _serve("lendguard.asgi:app", env, workdir) as two,
    ):
        yield postgres_database, [f"http://127.0.0.1:{s.port}" for s in (one, two)]


@pytest.fixture
def database(servers: tuple[str, list[str]]) -> Iterator[Any]:
    engine = make_engine(servers[0])
    yield engine
    engine.dispose()


def _post(url: str, event: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/events", json=event, headers=HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _essence(decision: Any) -> tuple[Any, ...]:
    if isinstance(decision, dict):
        return (decision["action"], decision["score"], [r["code"] for r in decision["reasons"]])
    return (decision.action.value, decision.score, [r.code for r in decision.reasons])


def _in_log_order(database: Any, event_ids: set[str]) -> list[dict[str, Any]]:
    with database.connect() as conn:
        rows = conn.execute(
            select(EventRecord.event_id, EventRecord.body).order_by(EventRecord.seq)
        ).all()
    return [dict(r.body) for r in rows if r.event_id in event_ids]


def test_200_concurrent_events_of_one_customer_through_two_processes_all_count(
    servers: tuple[str, list[str]], database: Any
) -> None:
    _, urls = servers
    events = [
        make_event(
            event_id=f"burst-{n:03d}",
            customer_id="burst-customer",
            amount="120",
            payee_id=f"shop-{n % 7}",
            occurred_at=T0 + timedelta(seconds=n),
        )
        for n in range(BURST)
    ]
    targets = itertools.cycle(urls)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda e: _post(next(targets), e), events))
    assert len({a["decision_id"] for a in answers}) == BURST
    with database.connect() as conn:
        blob = conn.execute(
            select(SharedEntityState.blob).where(SharedEntityState.key == "c:burst-customer")
        ).scalar_one()
    state = EntityState.from_bytes(blob)
    assert len(state) == BURST
    assert sorted(state.event_ids) == sorted(e["event_id"] for e in events)
    # Every decision is the one a single process gives replaying the log in its order.
    by_id = {a["event_id"]: a for a in answers}
    replay = EngineRun()
    logged = _in_log_order(database, set(by_id))
    assert len(logged) == BURST
    for body in logged:
        assert _essence(by_id[body["event_id"]]) == _essence(replay.decide(body))
    # Sent again to the other process: the same decisions, nothing written twice.
    again = [_post(urls[1], e) for e in events[:20]]
    assert [a["decision_id"] for a in again] == [a["decision_id"] for a in answers[:20]]


def test_a_ring_and_a_scam_built_on_one_process_are_seen_by_the_other(
    servers: tuple[str, list[str]], database: Any
) -> None:
    _, urls = servers
    t0 = T0 + timedelta(days=3)
    shared_device = [
        make_event(
            type="application",
            event_id=f"ring-app-{i}",
            customer_id=f"ring-member-{i}",
            device_id="ring-farm-phone",
            ip="10.8.8.8",
            amount="5000",
            occurred_at=t0 + timedelta(minutes=i),
        )
        for i in range(4)
    ]
    events = [
        *r39_control_events(customer_id="mp-tenant", t0=t0),
        *shared_device,
        *r39_scam_events(customer_id="mp-victim", t0=t0 + timedelta(hours=1)),
    ]
    started = time.monotonic()
    answers = {e["event_id"]: _post(urls[i % 2], e) for i, e in enumerate(events)}
    replay = EngineRun()
    for body in _in_log_order(database, set(answers)):
        assert _essence(answers[body["event_id"]]) == _essence(replay.decide(body))
    assert answers[shared_device[-1]["event_id"]]["action"] != "allow"
    assert answers[events[-1]["event_id"]]["action"] == "intercept"
    assert time.monotonic() - started < 60


def test_a_rule_set_activated_by_one_process_decides_in_the_other(
    postgres_database: str, service_factory: Any
) -> None:
    """Configuration is followed too (here two services in one test process, each with its own
    engine and graph, as two processes would be)."""
    _reset_postgres(postgres_database)
    first = service_factory(postgres_database, shared=True)
    second = service_factory(postgres_database, shared=True)
    before = second.decide(parse_event(make_event(event_id="cfg-1", customer_id="cfg")))
    uploaded = first.rulesets.upload(default_ruleset_text(), author="maker")
    first.rulesets.activate(uploaded["version"], actor="checker")
    assert uploaded["version"] != before["ruleset_version"]
    second._configuration_checked = 0.0  # (it looks once a second; no waiting in a test)
    after = second.decide(parse_event(make_event(event_id="cfg-2", customer_id="cfg")))
    assert after["ruleset_version"] == uploaded["version"]
