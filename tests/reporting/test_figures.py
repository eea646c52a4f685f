"""The protection report's figures (issue #21) equal those computed here, independently, in
plain Python over the rows of the known database (``known_report``, tests/reporting/conftest.py)
read back with raw SQL; and ``GET /v1/reports/protection`` answers the same document, 401/403
before anything, 422 naming the field.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from lendguard.reporting.definitions import DEFINITIONS
from lendguard.reporting.schemas import ProtectionReport

STOPPING = {"intercept", "block"}
INTERVENING = {"remind", "dissuade", "intercept", "block"}
SCAM_STATES = {"resolved_fraud", "resolved_scam_victim"}


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class Rows:
    """The known database's rows, read back with raw SQL."""

    def __init__(self, known: Any) -> None:
        self.known = known
        with known.engine.connect() as conn:

            def q(sql: str) -> list[Any]:
                return list(conn.execute(text(sql)).all())

            decisions = q(
                "SELECT d.decision_id, d.event_id, d.customer_id, d.occurred_at, d.decided_at, "
                "d.action, d.reasons, e.body FROM decisions d "
                "LEFT JOIN events e ON e.event_id = d.event_id"
            )
            labels = q("SELECT event_id, label FROM labels ORDER BY known_at, id")
            holds = q(
                "SELECT cd.decision_id, cd.hold_status, cd.hold_ended_at, cd.amount, c.state, "
                "c.scam_type FROM case_decisions cd JOIN cases c ON c.id = cd.case_id"
            )
            self.complaints = q(
                "SELECT jurisdiction, received_at, due_at, responded_at, escalated_at "
                "FROM complaints"
            )
            self.requests = q(
                "SELECT kind, status, received_at, due_at, decided_at FROM data_subject_requests"
            )
            self.consents = q("SELECT purpose, channel, granted, at FROM consent_records")
            self.steps = q("SELECT customer_id, step, at FROM rescue_steps")
            self.plans = q("SELECT status, created_at FROM hardship_plans")
            self.education = q("SELECT customer_id, kind, occurred_at FROM education_events")
        self.label = {e: int(v) for e, v in labels}
        self.hold = {h.decision_id: h for h in holds}
        self.all_decisions = []
        for d in decisions:
            body = _json(d.body) or {}
            self.all_decisions.append(
                {
                    "decision_id": d.decision_id,
                    "event_id": d.event_id,
                    "customer": d.customer_id,
                    "occurred_at": _instant(d.occurred_at),
                    "decided_at": _instant(d.decided_at),
                    "action": d.action,
                    "reasons": _json(d.reasons) or [],
                    "warmup": bool((body.get("attributes") or {}).get("warmup")),
                    "amount": float(body["amount"]) if body.get("amount") else None,
                }
            )
        self.counted = [
            d for d in self.all_decisions if self.in_period(d["occurred_at"]) and not d["warmup"]
        ]

    def in_period(self, at: Any) -> bool:
        moment = _instant(at)
        return moment is not None and self.known.start <= moment < self.known.end

    def confirmed(self, d: dict[str, Any]) -> bool:
        hold = self.hold.get(d["decision_id"])
        return self.label.get(d["event_id"]) == 1 or (
            hold is not None and hold.state in SCAM_STATES
        )


@pytest.fixture
def rows(known_report: Any) -> Rows:
    return Rows(known_report)


@pytest.fixture
def report(known_report: Any) -> ProtectionReport:
    built: ProtectionReport = known_report.report()
    return built


# -- the period and the interventions ----------------------------------------------------------


def test_period_edges_in_the_zone_and_warm_up_left_out(
    known_report: Any, rows: Rows, report: ProtectionReport
) -> None:
    assert report.period.start == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
    assert report.period.end == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert report.period.days == 28
    counted = {d["event_id"] for d in rows.counted}
    assert known_report.last_evening_event in counted  # 23:30 on the last day
    assert known_report.next_midnight_event not in counted  # 00:00 the next day
    assert known_report.before_start_event not in counted
    warm = [d for d in rows.all_decisions if d["event_id"] == known_report.warmup_event]
    assert warm
    assert known_report.warmup_event not in counted
    assert report.interventions.decisions == len(rows.counted)
    last = report.interventions.per_day[-1]
    assert last.day == date(2026, 2, 28)


def test_interventions_per_day_action_and_typology(rows: Rows, report: ProtectionReport) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    by_action = Counter(d["action"] for d in rows.counted)
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for d in rows.counted:
        if d["action"] in INTERVENING:
            per_day[d["occurred_at"].astimezone(zone).date()][d["action"]] += 1
    section = report.interventions
    interventions = sum(by_action[a] for a in INTERVENING)
    assert section.interventions == interventions
    assert section.by_action == {
        a: by_action.get(a, 0) for a in ("allow", "remind", "dissuade", "intercept", "block")
    }
    assert section.average_per_day == round(interventions / 28, 2)
    assert len(section.per_day) == 28
    for day in section.per_day:
        assert day.counts == {a: per_day[day.day].get(a, 0) for a in section.per_day[0].counts}
    assert sum(t.total for t in section.by_typology) == interventions
    scam = {t.typology: t for t in section.by_typology}["fake_customer_service"]
    assert scam.counts["intercept"] == 1
    assert scam.label["en"]


def _check_frauds(rows: Rows, report: ProtectionReport) -> None:
    confirmed = [d for d in rows.counted if rows.confirmed(d)]
    blocked = [d for d in confirmed if d["action"] in STOPPING]
    assert report.frauds.confirmed_frauds == len(confirmed) == 2
    assert report.frauds.frauds_blocked == len(blocked) == 2
    assert report.frauds.customers_protected == len({d["customer"] for d in blocked})


def test_frauds_blocked_and_losses_observed_and_estimated_apart(
    known_report: Any, rows: Rows, report: ProtectionReport
) -> None:
    _check_frauds(rows, report)
    observed = 0.0
    cancelled = scams = 0
    estimated = 0.0
    dissuaded = 0
    for d in rows.counted:
        hold = rows.hold.get(d["decision_id"])
        status = hold.hold_status if hold else None
        amount = hold.amount if hold else d["amount"]
        if d["action"] in STOPPING and (
            status == "cancelled" or (rows.confirmed(d) and status != "released")
        ):
            observed += amount or 0.0
            cancelled += status == "cancelled"
            scams += rows.confirmed(d)
        elif d["action"] == "dissuade" and rows.label.get(d["event_id"]) != 0 and d["amount"]:
            dissuaded += 1
            estimated += (
                d["amount"] * known_report.api.services.settings.report_dissuasion_success_rate
            )
    losses = report.losses
    assert losses.observed_cny == round(observed, 2) == 7000.0  # 5,000 cancelled + 2,000 blocked
    assert losses.observed_holds_cancelled == cancelled == 1
    assert losses.observed_scams_confirmed == scams == 2
    assert losses.estimated_cny == round(estimated, 2)
    assert losses.estimated_dissuaded == dissuaded
    assert ("rp-d5", 1000.0) in {(d["decision_id"], d["amount"]) for d in rows.counted}
    assert DEFINITIONS[losses.definition_estimated].basis == "estimated"
    assert DEFINITIONS[losses.definition_observed].basis == "observed"


def _inconvenience(known: Any, rows: Rows) -> dict[str, dict[str, Any]]:
    """Per group: honest customers, remind+, intercept+ (fraud reasons first), delays."""
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in rows.counted:
        by_customer[d["customer"]].append(d)
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"customers": set(), "remind": set(), "intercept": set(), "delays": []}
    )
    for customer, mine in by_customer.items():
        if any(rows.confirmed(d) for d in mine):
            continue
        known_groups = known.groups.get(customer, {"age": "unknown", "tenure": "unknown"})
        names = ["all", f"age:{known_groups['age']}", f"tenure:{known_groups['tenure']}"]
        names += [f"flag:{f}" for f in known_groups.get("flags", ())]
        for d in mine:
            fraud = bool(d["reasons"]) and d["reasons"][0].get("category") == "fraud"
            hold = rows.hold.get(d["decision_id"])
            for name in names:
                g = groups[name]
                g["customers"].add(customer)
                if fraud and d["action"] in INTERVENING:
                    g["remind"].add(customer)
                    if d["action"] in STOPPING:
                        g["intercept"].add(customer)
                if hold is not None and hold.hold_status == "released" and hold.hold_ended_at:
                    hours = (_instant(hold.hold_ended_at) - d["decided_at"]).total_seconds() / 3600
                    g["delays"].append(hours)
    return groups


def _check_group(expected: dict[str, Any], got: Any) -> None:
    n = len(expected["customers"])
    assert got.customers == n
    assert got.remind_or_more == len(expected["remind"])
    assert got.remind_or_more_rate == _rate(len(expected["remind"]), n)
    assert got.intercept_or_more == len(expected["intercept"])
    assert got.intercept_or_more_rate == _rate(len(expected["intercept"]), n)
    delays = expected["delays"]
    assert got.median_delay_hours == (round(statistics.median(delays), 2) if delays else None)


def test_honest_customers_inconvenienced_by_every_group(
    known_report: Any, rows: Rows, report: ProtectionReport
) -> None:
    expected = _inconvenience(known_report, rows)
    section = report.inconvenience
    assert section.honest_customers == len(expected["all"]["customers"])
    assert section.remind_or_more == len(expected["all"]["remind"])
    assert section.intercept_or_more == len(expected["all"]["intercept"])
    assert section.median_delay_hours == 3.5  # held 5 h and 2 h
    empty = {"customers": set(), "remind": set(), "intercept": set(), "delays": []}
    for group in section.by_age_band:
        _check_group(expected.get(f"age:{group.group}", empty), group)
    for group in section.by_tenure:
        _check_group(expected.get(f"tenure:{group.group}", empty), group)
    assert [g.group for g in section.by_flag] == ["student", "elderly", "vulnerable"]
    for group in section.by_flag:
        _check_group(expected.get(f"flag:{group.group}", empty), group)
    # the groups the known customers fall in are all there, with someone in them
    flags = {g.group: g for g in section.by_flag}
    assert flags["elderly"].intercept_or_more == 1
    assert flags["elderly"].median_delay_hours == 5.0
    assert flags["student"].intercept_or_more == 1
    assert flags["student"].median_delay_hours == 2.0
    assert flags["vulnerable"].remind_or_more == 1
    assert flags["vulnerable"].intercept_or_more == 0
    ages = {g.group: g for g in section.by_age_band}
    assert ages["60+"].customers == 1
    assert ages["<22"].customers == 1
    # the wellbeing reminder is no inconvenience
    assert "rp-plain" in expected["all"]["customers"]
    assert "rp-plain" not in expected["all"]["remind"]


# -- complaints, rescues, consent, requests, education ------------------------------------------


def test_complaint_clock_per_jurisdiction(
    known_report: Any, rows: Rows, report: ProtectionReport
) -> None:
    end = known_report.end
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for c in rows.complaints:
        if not rows.in_period(c.received_at):
            continue
        f = by[c.jurisdiction]
        f["complaints"] += 1
        responded, due = _instant(c.responded_at), _instant(c.due_at)
        assert due is not None
        if responded is not None and responded < end:
            f["resolved"] += 1
            f["on_time" if responded < due else "late"] += 1
        elif due <= end:
            f["overdue"] += 1
        escalated = _instant(c.escalated_at)
        if escalated is not None and escalated < end:
            f["escalated"] += 1
    got = {j.jurisdiction: j for j in report.complaints.by_jurisdiction}
    assert set(got) == set(by) == {"CN", "US"}
    for name, f in by.items():
        j = got[name]
        assert (j.complaints, j.resolved, j.resolved_on_time, j.resolved_late, j.open_overdue) == (
            f["complaints"],
            f["resolved"],
            f["on_time"],
            f["late"],
            f["overdue"],
        )
        assert j.compliance_rate == _rate(f["on_time"], f["resolved"] + f["overdue"])
        assert j.escalated == f["escalated"]
        assert j.escalation_rate == _rate(f["escalated"], f["complaints"])
    assert got["CN"].compliance_rate == 0.5
    assert got["US"].compliance_rate == 0.0
    assert report.complaints.escalation_rate == round(1 / 4, 4)


def test_rescue_consent_requests_and_education(
    known_report: Any, rows: Rows, report: ProtectionReport
) -> None:
    _check_education(rows, report)
    steps = Counter(s.step for s in rows.steps if rows.in_period(s.at))
    assert {r.key: r.count for r in report.rescue.steps if r.count} == dict(steps)
    assert report.rescue.customers == len(
        {s.customer_id for s in rows.steps if rows.in_period(s.at)}
    )
    plans = Counter(p.status for p in rows.plans if rows.in_period(p.created_at))
    assert {r.key: r.count for r in report.rescue.outcomes if r.count} == dict(plans)

    consent: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for c in rows.consents:
        if rows.in_period(c.at):
            consent[(c.purpose, c.channel)][0 if c.granted else 1] += 1
    assert {(r.purpose, r.channel): [r.grants, r.withdrawals] for r in report.consent.rows} == dict(
        consent.items()
    )
    assert report.consent.grants == 2
    assert report.consent.withdrawals == 1

    end = known_report.end
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows.requests:
        if not rows.in_period(r.received_at):
            continue
        f = kinds[r.kind]
        f["opened"] += 1
        decided, due = _instant(r.decided_at), _instant(r.due_at)
        assert due is not None
        if r.status in ("complete", "refused") and decided is not None and decided < end:
            f["closed"] += 1
            f["on_time" if decided <= due else "late"] += 1
        elif due < end:
            f["overdue"] += 1
    got = {k.kind: k for k in report.requests.by_kind}
    for kind, f in kinds.items():
        k = got[kind]
        assert (k.opened, k.closed, k.closed_on_time, k.closed_late, k.open_overdue) == (
            f["opened"],
            f["closed"],
            f["on_time"],
            f["late"],
            f["overdue"],
        )
    assert report.requests.opened == 3
    assert report.requests.timeliness_rate == round(1 / 3, 4)


def _check_education(rows: Rows, report: ProtectionReport) -> None:
    delivered = {
        e.customer_id
        for e in rows.education
        if e.kind == "delivered" and rows.in_period(e.occurred_at)
    }
    completed = {
        e.customer_id
        for e in rows.education
        if e.kind == "completed" and rows.in_period(e.occurred_at)
    }
    assert report.education.customers_reached == len(delivered) == 2
    assert report.education.customers_completed == len(completed) == 1


def _check_definitions(report: ProtectionReport) -> None:
    """Every figure names a definition, in both languages."""
    named = {
        report.interventions.definition,
        report.frauds.definition,
        report.losses.definition_observed,
        report.losses.definition_estimated,
        report.inconvenience.definition,
        report.complaints.definition,
        report.rescue.definition,
        report.consent.definition,
        report.requests.definition,
        "education_reach",
        "education_completion",
        "education_later_scams",
    }
    assert named <= set(report.definitions)
    for d in report.definitions.values():
        for text_ in (d.title, d.definition):
            assert set(text_) == {"zh-CN", "en"}
            assert all(text_.values())
        assert d.basis in {"observed", "estimated"}
        assert d.unit in {"count", "rate", "cny", "hours", "days"}
        assert "_" not in d.definition["en"]  # no internal names in what people read


# -- the API ------------------------------------------------------------------------------------

URL = "/v1/reports/protection"
QUERY = {"from": "2026-02-01", "to": "2026-02-28", "zone": "Asia/Shanghai"}


def test_the_api_answers_the_same_document(known_report: Any, report: ProtectionReport) -> None:
    _check_definitions(report)
    api = known_report.api
    response = api.client.get(URL, params=QUERY, headers=api.key("reports:read"))
    assert response.status_code == 200, response.text
    body = response.json()
    served = ProtectionReport.model_validate(body)
    assert served.interventions == report.interventions
    assert served.losses == report.losses
    assert served.inconvenience == report.inconvenience
    assert served.period == report.period


def test_the_api_refuses_before_anything(app_client: Any) -> None:
    api = app_client
    assert api.client.get(URL, params=QUERY).status_code == 401
    assert api.client.get(URL, params={"from": "x"}).status_code == 401
    other = api.key("decisions:read")
    assert api.client.get(URL, params=QUERY, headers=other).status_code == 403
    assert api.client.get(URL, params={"from": "x"}, headers=other).status_code == 403


BAD = [
    ({"from": "2026-02-28", "to": "2026-02-01"}, "from"),
    ({"from": "2025-01-01", "to": "2026-02-01"}, "from"),
    ({"from": "0000-01-01", "to": "2026-02-01"}, "from"),
    ({"from": "2026-02-01", "to": "9999-12-31"}, "to"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "2026-02-01"}, "to"),
    ({"from": "2026-02-01", "to": "2026-02-02", "zone": "Mars/Olympus"}, "zone"),
    ({"from": "2026-02-01", "to": "2026-02-02", "zone": "Asia/Shanghai\x00"}, "zone"),
    ({"from": "2026-02-01", "to": "2026-02-02", "zone": "x" * 300}, "zone"),
]


def test_the_api_names_the_bad_field(app_client: Any) -> None:
    api = app_client
    for params, field in BAD:
        response = api.client.get(URL, params=params, headers=api.admin)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in json.dumps(response.json()), response.text


def test_a_leap_year_fits(app_client: Any) -> None:
    api = app_client
    params = {"from": "2024-01-01", "to": "2024-12-31", "zone": "UTC"}
    response = api.client.get(URL, params=params, headers=api.admin)
    assert response.status_code == 200, response.text
    assert response.json()["period"]["days"] == 366
    assert timedelta(days=366) == datetime.fromisoformat(
        response.json()["period"]["end"]
    ) - datetime.fromisoformat(response.json()["period"]["start"])
