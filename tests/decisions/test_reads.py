"""The decisions service's reads for the faces (console, CLI, assistant), on both databases:
the faces run no SQL on the decision tables, so these are what they show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fixtures import T0, make_event, r39_scam_events
from lendguard.decisions.labels import Labels
from lendguard.decisions.service import DecisionService
from lendguard.events.parse import parse_event

ServiceFactory = Callable[..., DecisionService]

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def _decide_all(service: DecisionService, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [service.decide(parse_event(raw)) for raw in events]


def test_the_decision_an_event_has_or_none(
    database_url: str, service_factory: ServiceFactory
) -> None:
    service = service_factory(database_url)
    (decided,) = _decide_all(service, [make_event(event_id="evt-read-1")])
    found = service.decision_for_event("evt-read-1")
    assert found is not None
    assert found["decision_id"] == decided["decision_id"]
    assert found["action"] == decided["action"]
    assert service.decision_for_event("evt-never-sent") is None


def test_latest_decisions_newest_first_and_by_action(
    database_url: str, service_factory: ServiceFactory
) -> None:
    service = service_factory(database_url)
    decided = _decide_all(service, [make_event(), *r39_scam_events()])
    actions = [d["action"] for d in decided]
    assert "allow" in actions
    assert any(a != "allow" for a in actions)
    latest = service.latest_decisions()
    assert [d["decision_id"] for d in latest] == [d["decision_id"] for d in reversed(decided)]
    allowed = service.latest_decisions("allow")
    assert {d["decision_id"] for d in allowed} == {
        d["decision_id"] for d in decided if d["action"] == "allow"
    }
    assert len(service.latest_decisions(limit=1)) == 1


def test_a_customers_events_newest_first_with_their_bodies(
    database_url: str, service_factory: ServiceFactory
) -> None:
    service = service_factory(database_url)
    events = r39_scam_events(customer_id="student-9")
    _decide_all(service, [*events, make_event(customer_id="someone-else")])
    stored = service.customer_events("student-9")
    assert [e["event_id"] for e in stored] == [e["event_id"] for e in reversed(events)]
    assert [e["type"] for e in stored] == ["transfer", "disbursement"]
    assert stored[0]["body"]["payee_id"] == "safe-account-666"
    assert len(service.customer_events("student-9", limit=1)) == 1


def test_actions_by_event_hour_leave_warmup_history_out(
    database_url: str, service_factory: ServiceFactory
) -> None:
    service = service_factory(database_url)
    decided = _decide_all(
        service,
        [
            make_event(occurred_at=T0),
            make_event(occurred_at=T0 + timedelta(minutes=5)),
            make_event(occurred_at=T0 + timedelta(hours=2), attributes={"warmup": True}),
            *r39_scam_events(customer_id="student-3", t0=T0 + timedelta(hours=1)),
        ],
    )
    rows, reasons = service.actions_by_hour(LONG_AGO)
    counted: dict[tuple[str, str], int] = {(hour, action): n for hour, action, n in rows}
    hour = T0.astimezone(UTC).strftime("%Y-%m-%d %H")
    later = (T0 + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%d %H")
    warm = (T0 + timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%d %H")
    assert counted[(hour, "allow")] == 2
    assert not [key for key in counted if key[0] == warm]
    scam = decided[-1]
    assert scam["action"] != "allow"
    assert counted[(later, scam["action"])] >= 1
    assert {r["code"] for r in scam["reasons"]} <= set(reasons)
    assert service.actions_by_hour(FAR_FUTURE) == ([], {})


def test_the_latest_label_of_each_event(database_url: str, service_factory: ServiceFactory) -> None:
    service = service_factory(database_url)
    first, second = (make_event(event_id="evt-l-1"), make_event(event_id="evt-l-2"))
    _decide_all(service, [first, second])
    service.labels.record([{"event_id": "evt-l-1", "label": 1}], "lender")
    service.labels.record(
        [{"event_id": "evt-l-1", "label": 0}, {"event_id": "evt-l-2", "label": 1}], "lender"
    )
    assert Labels.latest_per_event(service.db) == {"evt-l-1": 0, "evt-l-2": 1}
