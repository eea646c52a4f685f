"""Helpers shared by the suite: valid event dicts, the R39 scam fixture, a pure-engine runner,
row counts and the ``Api`` handle returned by the ``app_client`` fixture.

Imported as ``from fixtures import ...`` (``tests/`` is on ``sys.path`` because ``conftest.py``
lives there and the suite has no ``__init__.py`` files).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from lendguard.app import Services
from lendguard.decisions.engine import EngineResult, evaluate
from lendguard.decisions.features.compute import (
    FeatureContext,
    FeatureValue,
    apply_event,
    compute,
    entity_keys,
    update_profile,
)
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.decisions.policy import ListsView
from lendguard.decisions.rules.loader import RuleSet, parse_ruleset
from lendguard.decisions.service import default_ruleset_text
from lendguard.decisions.state import MemoryStateStore
from lendguard.events.schemas import Event
from lendguard.models import Base

CST = timezone(timedelta(hours=8), "CST")
# 14:00 local time on a Monday: outside the night rule, an ordinary working afternoon.
T0 = datetime(2025, 3, 3, 14, 0, tzinfo=CST)
# The wall clock of tests that depend on "now" (the ``pinned_clock`` fixture travels there and
# lets it tick): a Monday, 10:30 in Asia/Shanghai, an ordinary working day in both countries.
# No test decides what it asserts from the real clock: CI runs at any hour, holidays included.
PINNED_NOW = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Pass as an override to remove a key from the built event."""

_ids = itertools.count(1)


def new_event_id() -> str:
    return f"evt-{next(_ids):06d}"


def make_event(**overrides: Any) -> dict[str, Any]:
    """A valid transfer event as the lender sends it; ``overrides`` replace or remove keys.

    ``occurred_at`` may be a datetime (serialised as ISO 8601); ``MISSING`` removes a key.
    """
    event: dict[str, Any] = {
        "event_id": new_event_id(),
        "type": "transfer",
        "occurred_at": T0.isoformat(),
        "customer_id": "cust-1",
        "amount": "100.00",
        "currency": "CNY",
        "channel": "app",
        "device_id": "dev-1",
        "ip": "10.0.0.1",
        "payee_id": "payee-1",
    }
    for key, value in overrides.items():
        if value is MISSING:
            event.pop(key, None)
        elif isinstance(value, datetime):
            event[key] = value.isoformat()
        else:
            event[key] = value
    return event


def birth_date_for_age(age: int, at: datetime = T0) -> str:
    """A birth date that makes the customer exactly ``age`` (a few months past a birthday)."""
    born = date(at.year - age, at.month, 1) - timedelta(days=100)
    return born.isoformat()


# -- the R39 fixture ----------------------------------------------------------------------------


def r39_scam_events(customer_id: str = "student-21", t0: datetime = T0) -> list[dict[str, Any]]:
    """Student aged 21: 20,000 CNY disbursed at T, 19,000 to a new payee at T+12 min while
    sharing the screen (requirements-conduct.md R39 test fixture)."""
    profile = {"birth_date": birth_date_for_age(21, t0), "is_student": True}
    return [
        make_event(
            type="disbursement",
            customer_id=customer_id,
            occurred_at=t0,
            amount="20000",
            payee_id=MISSING,
            customer=profile,
        ),
        make_event(
            type="transfer",
            customer_id=customer_id,
            occurred_at=t0 + timedelta(minutes=12),
            amount="19000",
            payee_id="safe-account-666",
            session={"screen_share_active": True},
        ),
    ]


def r39_control_events(
    customer_id: str = "tenant-35", t0: datetime = T0, payee_id: str = "landlord-1"
) -> list[dict[str, Any]]:
    """The same disbursement and transfer, to a payee paid monthly for two years, no call."""
    history = [
        make_event(
            type="transfer",
            customer_id=customer_id,
            occurred_at=t0 - timedelta(days=30 * month),
            amount="3000",
            payee_id=payee_id,
            customer={"birth_date": birth_date_for_age(35, t0)} if month == 24 else MISSING,
        )
        for month in range(24, 0, -1)
    ]
    return [
        *history,
        make_event(
            type="disbursement",
            customer_id=customer_id,
            occurred_at=t0,
            amount="20000",
            payee_id=MISSING,
        ),
        make_event(
            type="transfer",
            customer_id=customer_id,
            occurred_at=t0 + timedelta(minutes=12),
            amount="19000",
            payee_id=payee_id,
        ),
    ]


# -- the pure engine, driven like the service drives it -----------------------------------------


@lru_cache(maxsize=1)
def default_ruleset() -> RuleSet:
    return parse_ruleset(default_ruleset_text(), file="default.yaml")


def ruleset_from_rules(rules_yaml: str, params: str = "") -> RuleSet:
    """A small custom rule set; ``rules_yaml`` is the list under ``rules:`` (indented 2)."""
    text = "name: custom\n"
    if params:
        text += "params:\n" + params
    text += "rules:\n" + rules_yaml
    return parse_ruleset(text, file="custom.yaml")


class EngineRun:
    """Decides events in arrival order with in-process state and no database."""

    def __init__(self, ruleset: RuleSet | None = None, lists: ListsView | None = None) -> None:
        self.ruleset = ruleset if ruleset is not None else default_ruleset()
        self.lists = lists if lists is not None else ListsView()
        self.store = MemoryStateStore()

    def _bundle(self, event: Event) -> StateBundle:
        keys = entity_keys(event)
        return StateBundle(keys, self.store.load(keys.values()))

    def decide(self, raw: dict[str, Any]) -> EngineResult:
        event = Event.model_validate(raw)
        bundle = self._bundle(event)
        update_profile(bundle.customer, event, event.occurred_at.timestamp())
        ctx = FeatureContext(event, bundle)
        result = evaluate(ctx, self.ruleset, self.lists)
        apply_event(event, bundle, ctx)
        return result

    def decide_all(self, raws: list[dict[str, Any]]) -> list[EngineResult]:
        return [self.decide(raw) for raw in raws]

    def features(self, raw: dict[str, Any], names: list[str]) -> dict[str, FeatureValue]:
        """Feature values this event would see, without recording it."""
        event = Event.model_validate(raw)
        bundle = self._bundle(event)
        profile_before = dict(bundle.customer.stats)
        update_profile(bundle.customer, event, event.occurred_at.timestamp())
        try:
            return compute(FeatureContext(event, bundle), names)
        finally:
            bundle.customer.stats.clear()
            bundle.customer.stats.update(profile_before)


def reason_codes(result: EngineResult | dict[str, Any]) -> set[str]:
    if isinstance(result, dict):
        return {r["code"] for r in result["reasons"]}
    return {r.code for r in result.reasons}


# -- databases and the HTTP app -----------------------------------------------------------------

ADMIN_KEY = "lg_test_admin"


def count_rows(engine: Engine, table: str) -> int:
    model = Base.metadata.tables[table]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


@dataclass
class Api:
    """The app under test (``app_client`` fixture) with helpers for keys, events and rows."""

    client: TestClient
    app: FastAPI
    services: Services
    admin: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {ADMIN_KEY}"})

    _approver: dict[str, str] | None = None

    @property
    def approver(self) -> dict[str, str]:
        """A second principal (an approver key) for maker–checker: ``admin`` uploads, this one
        approves."""
        if self._approver is None:
            self._approver = self.key("rules:write", "rules:approve")
        return self._approver

    def key(self, *scopes: str) -> dict[str, str]:
        """Authorization headers of a new key with exactly these scopes."""
        secret = self.services.api_keys.create(f"test-{uuid.uuid4().hex[:8]}", list(scopes))
        return {"Authorization": f"Bearer {secret}"}

    def post_event(self, event: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post("/v1/events", json=event, headers=headers or self.admin)

    def decide(self, event: dict[str, Any]) -> dict[str, Any]:
        response = self.post_event(event)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def rows(self, table: str) -> int:
        return count_rows(self.services.decisions.db, table)

    def states(self) -> dict[str, EntityState]:
        """The in-process window states (the app runs with the memory store)."""
        store = self.services.decisions.store
        assert isinstance(store, MemoryStateStore)
        return store.states

    def written(self) -> tuple[int, int]:
        """(events, decisions) rows."""
        return self.rows("events"), self.rows("decisions")


# -- console users and a webhook receiver --------------------------------------------------------

USER_PASSWORD = "correct-horse-battery-1"


@dataclass
class UserClient:
    """A client signed in to the console as one user (cookie session), with its CSRF token."""

    client: TestClient
    csrf: str
    actor: str

    def post(self, url: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.post(url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)


def sign_in(app: FastAPI, services: Services, role: str, username: str | None = None) -> UserClient:
    """Create a user with ``role`` and sign in through the console login form."""
    username = username or f"{role}-{uuid.uuid4().hex[:6]}"
    services.users.create(username, USER_PASSWORD, role, "en")
    client = TestClient(app, base_url="http://localhost")
    response = client.post(
        "/console/login",
        data={"username": username, "password": USER_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    token = client.cookies.get("lg_session")
    assert token
    info = services.users.session(token)
    assert info is not None
    return UserClient(client, info.csrf_token, f"user:{username}")


class WebhookReceiver:
    """A real HTTP server on localhost standing in for the lender: records every request, and
    answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        import http.server
        import threading

        self.requests: list[dict[str, Any]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = 500 if len(receiver.requests) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lendguard/holds"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_app(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free port (a real HTTP server, for browsers and generated
    clients); yields its base URL and stops the server afterwards."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# A rule set with one rule that blocks every payment out, as a lender keeps it in a file.
STRICT_RULES = """\
name: strict
rules:
  - id: any-outflow-blocked
    category: fraud
    when: is_outflow and amount >= 1
    action: block
    reason: STRICT_BLOCK
    weight: 90
    measures: [SUSPEND]
    message:
      zh-CN: "已阻止 {amount}"
      en: "Blocked {amount}"
    explanation:
      zh-CN: "本机构暂停了所有转出；这样可以保护您的资金。如有疑问请联系客服。"
      en: "We have paused every payment out to protect your money. Contact us with questions."
"""
