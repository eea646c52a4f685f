"""The demo's month of other work (lendguard.simulate.demo_activity): a small population decided
as the demo decides it, then run_activity on two copies of that database: every kind of row is
there, in the numbers the plan gives, placed in the simulated month where the service takes an
instant, and a second run with the same seed gives the same counts."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from rich.console import Console
from sqlalchemy import create_engine, select

from lendguard.app import Services, build_services
from lendguard.config import Settings
from lendguard.events.schemas import Event
from lendguard.models.access import AuditEntry
from lendguard.models.cases import Case
from lendguard.models.education import EducationEvent
from lendguard.models.lending import RescueStep
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest, PrivacyNotice
from lendguard.models.support import Complaint
from lendguard.simulate.demo_activity import (
    NOTICE_KEY,
    ActivitySummary,
    run_activity,
)
from lendguard.simulate.generator import Population, generate

# After the simulated month (March 2026): what "now" is for the services while the test runs.
AFTER_THE_MONTH = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
SEED = 3
CUSTOMERS = 80
_EXPECTED_FOR = {
    "victim": "resolved_scam_victim",
    "fraudster": "resolved_fraud",
    "mule": "resolved_fraud",
    "honest": "resolved_legit",
}


def _population() -> Population:
    # More victims, look-alikes and mules than the demo's rates, so a small month has cases of
    # every kind to work.
    return generate(
        customers=CUSTOMERS,
        days=30,
        seed=SEED,
        victim_rate=0.08,
        lookalike_rate=0.15,
        mule_rate=0.02,
    )


def _services(path: Path) -> Services:
    settings = Settings(
        _env_file=None, database_url=f"sqlite:///{path}", log_level="WARNING", cookie_secure=False
    )
    return build_services(settings, migrate=False)


def _close(services: Services) -> None:
    services.close()
    services.decisions.db.dispose()


@dataclass(frozen=True)
class Decided:
    """A database with the population decided (as ``make demo`` decides it) and its users, and
    the cases that left open."""

    path: Path
    open_cases: list[dict[str, Any]]


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Decided:
    path = tmp_path_factory.mktemp("demo-activity") / "decided.db"
    shutil.copyfile(sqlite_template, path)
    population = _population()
    with time_machine.travel(AFTER_THE_MONTH, tick=True):
        services = _services(path)
        try:
            for start in range(0, len(population.events), 256):
                chunk = population.events[start : start + 256]
                services.decisions.decide_many([Event.model_validate(raw) for raw in chunk])
            for role in ("analyst", "approver"):
                services.users.create(f"demo-{role}", "demo-password-0123456", role, "zh-CN")
            open_cases: list[dict[str, Any]] = services.cases.queue(limit=10_000)["cases"]
        finally:
            _close(services)
    return Decided(path, open_cases)


def _run(decided: Decided, folder: Path, honest: set[str]) -> tuple[ActivitySummary, Path]:
    """run_activity on a copy of ``decided``; the customers in ``honest`` are honest whatever
    the generator made them (the engine opens no case for this month's honest customers, so
    the analyst's "legit" path is tried on customers it did)."""
    folder.mkdir()
    path = folder / "activity.db"
    shutil.copyfile(decided.path, path)
    population = _population()
    for customer in population.customers:
        if customer.customer_id in honest:
            customer.role = "honest"
    with time_machine.travel(AFTER_THE_MONTH, tick=True):
        services = _services(path)
        try:
            summary = run_activity(services, population, SEED, AFTER_THE_MONTH)
        finally:
            _close(services)
    return summary, path


def test_the_month_holds_every_kind_of_work_and_a_second_run_gives_the_same_counts(
    decided: Decided, tmp_path: Path
) -> None:
    population = _population()
    month_start = population.start.astimezone(UTC)
    month_end = month_start + timedelta(days=population.days)
    open_before = decided.open_cases
    assert open_before, "the small month opens cases"
    # Two customers with cases (the one with the most money held among them) turn out honest.
    by_customer: dict[str, float] = {}
    for case in open_before:
        held = float(case["held_amount"] or 0.0)
        by_customer[case["customer_id"]] = by_customer.get(case["customer_id"], 0.0) + held
    ranked = sorted(by_customer, key=lambda c: (-by_customer[c], c))
    honest = set(ranked[:2])
    roles = {c.customer_id: c.role for c in population.customers}
    roles.update(dict.fromkeys(honest, "honest"))

    summary, path = _run(decided, tmp_path / "first", honest)
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            notices = conn.execute(
                select(PrivacyNotice.notice_key, PrivacyNotice.version, PrivacyNotice.texts)
            ).all()
            consents = conn.execute(
                select(
                    ConsentRecord.purpose,
                    ConsentRecord.scope,
                    ConsentRecord.granted,
                    ConsentRecord.at,
                    ConsentRecord.customer_id,
                )
            ).all()
            cases = conn.execute(select(Case.id, Case.customer_id, Case.state)).all()
            complaints = conn.execute(
                select(
                    Complaint.jurisdiction,
                    Complaint.state,
                    Complaint.received_at,
                    Complaint.due_at,
                    Complaint.responded_at,
                    Complaint.escalated_at,
                )
            ).all()
            requests = conn.execute(
                select(
                    DataSubjectRequest.kind,
                    DataSubjectRequest.status,
                    DataSubjectRequest.received_at,
                    DataSubjectRequest.due_at,
                )
            ).all()
            actions = Counter(conn.execute(select(AuditEntry.action)).scalars())
            steps = conn.execute(select(RescueStep.step)).all()
            education = conn.execute(select(EducationEvent.kind, EducationEvent.occurred_at)).all()
    finally:
        engine.dispose()

    # 1. the notice, in both languages, under the key the privacy centre is told
    assert [(n.notice_key, n.version) for n in notices] == [(NOTICE_KEY, 1)]
    assert set(notices[0].texts) == {"zh-CN", "en"}
    assert summary.notice_version == 1

    # 2. consents: the rows are the summary's, inside the month, with marketing withdrawals
    counted = Counter(
        f"{c.purpose}:{c.scope}:{'granted' if c.granted else 'withdrawn'}" for c in consents
    )
    assert counted == summary.consents
    assert all(month_start <= _utc(c.at) < month_end for c in consents)
    assert counted["marketing:sms:granted"] > 0
    assert any(k.startswith("marketing:") and k.endswith(":withdrawn") for k in counted)
    assert {k.split(":")[1] for k in counted if k.startswith("third_party_sharing:")} == {
        "payment_partners",
        "credit_bureau",
        "alliance_antifraud",
    }
    assert 0 < len({c.customer_id for c in consents}) <= summary.consent_customers

    # 3. cases: each worked case closed as the customer's role says; the rest still open
    states = Counter(c.state for c in cases)
    closed = {s: n for s, n in states.items() if s.startswith("resolved")}
    assert closed == {k: v for k, v in summary.cases.items() if k != "left_open"}
    assert (
        sum(n for s, n in states.items() if not s.startswith("resolved"))
        == (summary.cases["left_open"])
    )
    assert sum(summary.cases.values()) == len(open_before)
    for case in cases:
        if case.state.startswith("resolved"):
            assert case.state == _EXPECTED_FOR[roles[case.customer_id]]
    assert summary.cases["resolved_legit"] > 0
    assert summary.cases["resolved_fraud"] + summary.cases["resolved_scam_victim"] > 0
    assert actions["case.transition"] >= 2 * sum(closed.values())

    # 4. complaints: the planned number per jurisdiction, received in the month; the clock's
    # outcomes as the summary counts them
    assert Counter(c.jurisdiction for c in complaints) == {"CN": 3, "UK": 1, "US": 1}
    assert all(month_start <= _utc(c.received_at) < month_end for c in complaints)
    fates = Counter(k.split(":")[1] for k in summary.complaints.elements())
    answered = [c for c in complaints if c.responded_at is not None]
    assert len(answered) == fates["on_time"] + fates["late"] + fates["escalated"]
    assert sum(_utc(c.responded_at) > _utc(c.due_at) for c in answered) == fates["late"]
    assert sum(c.escalated_at is not None for c in complaints) == fates["escalated"] > 0
    assert all(_utc(c.responded_at) < month_end for c in answered)

    # 5. data-subject requests: every kind, one refused, one never verified
    assert (
        Counter(f"{r.kind}:{r.status}" for r in requests)
        == summary.requests
        == {
            "access:complete": 2,
            "access:identity_unverified": 1,
            "correct:complete": 1,
            "correct:refused": 1,
            "delete:complete": 1,
            "withdraw:complete": 1,
            "explain:complete": 2,
        }
    )
    assert all(month_start <= _utc(r.received_at) < month_end for r in requests)
    unverified = next(r for r in requests if r.status == "identity_unverified")
    assert _utc(unverified.due_at) < month_end  # overdue at the month's end

    kinds = Counter(e.kind for e in education)
    education_at = [e.occurred_at for e in education]
    # 6. the rescue ladder is counted, never made up; 7. education: the seed's rows, in the month
    assert sum(summary.rescue_steps.values()) == len(steps)
    assert summary.education["delivered"] == kinds["delivered"] > 0
    assert summary.education["opened"] == kinds["opened"]
    assert summary.education["completed"] == kinds["completed"]
    # (never after the month; the seed follows every customer's first intervention, and the
    # warm-up history before the month has some)
    assert all(_utc(at) < month_end for at in education_at)
    assert any(month_start <= _utc(at) for at in education_at)
    console = Console(record=True, width=120)
    summary.print(console)
    assert "privacy-policy" in console.export_text()

    again, _ = _run(decided, tmp_path / "second", honest)
    assert again.counts() == summary.counts()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
