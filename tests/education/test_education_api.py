"""Consumer education over HTTP on a real database with the clock pinned: the library and
quizzes as the app reads them; events reported by the app round-trip into the reach figures
(equal to counts made here from the same reports); the later-scams comparison from decisions,
labels and cases; idempotency by event_id; a batch is all or nothing; quizzes are scored; the
content attached to a stored decision and a case."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from fixtures import PINNED_NOW, Api, make_event
from lendguard.education.demo import seed_education
from lendguard.education.reach import reach_metrics
from lendguard.models.cases import Case, CaseDecision
from lendguard.models.decision import DecisionRecord, EventRecord, LabelRecord

PROBLEM = "application/problem+json"
# The period asked for: calendar days 20 … 28 February 2026 in UTC, i.e. [20 Feb, 1 Mar).
PERIOD = "from=2026-02-20&to=2026-02-28&zone=UTC"
START = datetime(2026, 2, 20, tzinfo=UTC)
END = datetime(2026, 3, 1, tzinfo=UTC)


def day(d: int, hour: int = 10) -> datetime:
    """An instant in February 2026 (d may be 29+: into March)."""
    return datetime(2026, 2, 1, hour, tzinfo=UTC) + timedelta(days=d - 1)


def event(eid: str, customer: str, content: str, kind: str, channel: str, at: datetime) -> dict:
    return {
        "event_id": eid,
        "customer_id": customer,
        "content_id": content,
        "kind": kind,
        "channel": channel,
        "occurred_at": at.isoformat(),
    }


# (customer, content, topic, kind, channel, when) as the app reports them
REPORTS = [
    ("c1", "fcs-article-1", "fake_customer_service", "delivered", "sms", day(21)),
    ("c1", "fcs-article-1", "fake_customer_service", "opened", "app", day(21, 11)),
    ("c1", "fcs-article-1", "fake_customer_service", "completed", "app", day(22)),
    ("c2", "fcs-article-1", "fake_customer_service", "delivered", "app", day(22)),
    ("c2", "fcs-article-1", "fake_customer_service", "opened", "app", day(22, 12)),
    ("c2", "borrow-article-1", "over_borrowing", "delivered", "push", day(23)),
    ("c3", "mule-article-1", "mule", "delivered", "email", day(24)),
    # delivered before the period: its opening in the period does not make c4 reached
    ("c4", "fcs-video-1", "fake_customer_service", "delivered", "app", day(19)),
    ("c4", "fcs-video-1", "fake_customer_service", "opened", "app", day(25)),
    # after the period
    ("c5", "mule-article-1", "mule", "delivered", "sms", day(29, 1)),
    ("c6", "invest-article-1", "elderly_investment", "delivered", "call", day(26)),
    ("c6", "invest-article-1", "elderly_investment", "completed", "in_person", day(26, 15)),
]


def post_reports(api: Api) -> None:
    batch = [event(f"e{i}", c, ct, k, ch, at) for i, (c, ct, _, k, ch, at) in enumerate(REPORTS)]
    r = api.client.post("/v1/education/events/batch", json={"events": batch}, headers=api.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["recorded"], r.json()["replayed"]) == (len(REPORTS), 0)


def expected_reach() -> dict[str, Any]:
    """The reach figures counted here from :data:`REPORTS`, by the definitions' words."""
    inside = [r for r in REPORTS if START <= r[5] < END]
    reached = {r[0] for r in inside if r[3] == "delivered"}
    opened = {r[0] for r in inside if r[3] == "opened"} & reached
    completed = {r[0] for r in inside if r[3] == "completed"} & reached

    def groups(key: int, link: bool) -> dict[str, tuple[int, int, int]]:
        out: dict[str, tuple[int, int, int]] = {}
        for value in sorted({str(r[key]) for r in inside if r[3] == "delivered"}):
            mine = {(r[0], r[1]) for r in inside if r[3] == "delivered" and r[key] == value}
            who = {c for c, _ in mine}
            if link:  # an opening counts for the channel its content was delivered on
                o = {r[0] for r in inside if r[3] == "opened" and (r[0], r[1]) in mine}
                d = {r[0] for r in inside if r[3] == "completed" and (r[0], r[1]) in mine}
            else:
                o = {r[0] for r in inside if r[3] == "opened" and r[key] == value} & who
                d = {r[0] for r in inside if r[3] == "completed" and r[key] == value} & who
            out[value] = (len(who), len(o), len(d))
        return out

    return {
        "totals": (len(reached), len(opened), len(completed)),
        "events": tuple(
            sum(1 for r in inside if r[3] == k) for k in ("delivered", "opened", "completed")
        ),
        "channel": groups(4, link=True),
        "topic": groups(2, link=False),
    }


def seed_profile(api: Api) -> None:
    """c6 is 70 (a profile on an event before the period); nobody else has a birth date."""
    api.decide(
        make_event(
            customer_id="c6",
            type="login",
            occurred_at=day(10),
            customer={"birth_date": "1956-01-15"},
        )
    )


def test_events_round_trip_into_the_reach_figures(pinned_clock: Any, app_client: Api) -> None:
    seed_profile(app_client)
    post_reports(app_client)
    r = app_client.client.get(f"/v1/education/reach?{PERIOD}", headers=app_client.admin)
    assert r.status_code == 200, r.text
    got = r.json()
    want = expected_reach()
    assert (got["customers_reached"], got["customers_opened"], got["customers_completed"]) == (
        want["totals"]
    )
    assert want["totals"] == (4, 2, 2)  # the fixture says what it means to
    assert got["completion_rate"] == pytest.approx(2 / 4)
    assert (got["deliveries"], got["openings"], got["completions"]) == want["events"]
    channels = {g["key"]: (g["reached"], g["opened"], g["completed"]) for g in got["by_channel"]}
    assert channels == want["channel"]
    assert channels["sms"] == (1, 1, 1)  # c1's sms delivery, opened and completed in the app
    topics = {g["key"]: (g["reached"], g["opened"], g["completed"]) for g in got["by_topic"]}
    assert topics == want["topic"]
    bands = {g["key"]: (g["reached"], g["completed"]) for g in got["by_age_band"]}
    assert bands == {"60+": (1, 1), "unknown": (3, 1)}
    # the same figures from the function the report calls
    direct = reach_metrics(app_client.services.decisions.db, START, END)
    assert direct.model_dump(mode="json") == got


def test_quizzes_are_scored_recorded_and_counted(pinned_clock: Any, app_client: Api) -> None:
    api = app_client
    quiz = api.client.get("/v1/education/quizzes/mule", headers=api.admin).json()
    assert "correct" not in str(quiz)
    assert "explanation" not in str(quiz)
    body = {
        "event_id": "quiz-1",
        "customer_id": "c1",
        "quiz_version": quiz["version"],
        "answers": {"q1": "a", "q2": "a", "q3": "a"},  # q2 is b
        "channel": "app",
        "answered_at": day(27).isoformat(),
    }
    r = api.client.post("/v1/education/quizzes/mule/answers", json=body, headers=api.admin)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["correct"], result["questions"], result["passed"]) == (2, 3, True)
    assert [x["correct"] for x in result["results"]] == [True, False, True]
    assert set(result["results"][1]["explanation"]) == {"zh-CN", "en"}
    again = api.client.post("/v1/education/quizzes/mule/answers", json=body, headers=api.admin)
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    changed = {**body, "answers": {"q1": "b"}}
    r = api.client.post("/v1/education/quizzes/mule/answers", json=changed, headers=api.admin)
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "event_id"
    failed = {**body, "event_id": "quiz-2", "customer_id": "c2", "answers": {"q1": "b"}}
    r = api.client.post("/v1/education/quizzes/mule/answers", json=failed, headers=api.admin)
    assert (r.json()["correct"], r.json()["passed"]) == (0, False)
    assert api.rows("education_quiz_answers") == 2
    figures = api.client.get(f"/v1/education/reach?{PERIOD}", headers=api.admin).json()["quiz"]
    assert figures == {"answers": 2, "customers": 2, "passed": 1, "pass_rate": 0.5}


def test_the_same_event_twice_counts_once_and_another_body_is_a_conflict(
    pinned_clock: Any, app_client: Api
) -> None:
    api = app_client
    body = event("dup-1", "c1", "fcs-article-1", "delivered", "sms", day(21))
    first = api.client.post("/v1/education/events", json=body, headers=api.admin)
    assert first.status_code == 200, first.text
    assert first.json()["replayed"] is False
    assert first.json()["topic"] == "fake_customer_service"
    second = api.client.post("/v1/education/events", json=body, headers=api.admin)
    assert second.status_code == 200
    assert second.json()["replayed"] is True
    assert second.json()["received_at"] == first.json()["received_at"]
    other = {**body, "channel": "push"}
    r = api.client.post("/v1/education/events", json=other, headers=api.admin)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["field"] == "event_id"
    assert api.rows("education_events") == 1
    reach = api.client.get(f"/v1/education/reach?{PERIOD}", headers=api.admin).json()
    assert (reach["deliveries"], reach["customers_reached"]) == (1, 1)


def test_a_batch_is_all_or_nothing(pinned_clock: Any, app_client: Api) -> None:
    api = app_client
    api.client.post(
        "/v1/education/events",
        json=event("known", "c1", "fcs-article-1", "delivered", "sms", day(21)),
        headers=api.admin,
    )
    good = [event(f"b{i}", "c2", "mule-article-1", "delivered", "app", day(22)) for i in range(3)]
    bad_content = [*good, event("b9", "c2", "nope", "delivered", "app", day(22))]
    r = api.client.post(
        "/v1/education/events/batch", json={"events": bad_content}, headers=api.admin
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "events.3.content_id"
    conflicting = [*good, event("known", "c1", "fcs-article-1", "opened", "sms", day(21))]
    r = api.client.post(
        "/v1/education/events/batch", json={"events": conflicting}, headers=api.admin
    )
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "events.3.event_id"
    twice = [*good, {**good[0], "kind": "opened"}]
    r = api.client.post("/v1/education/events/batch", json={"events": twice}, headers=api.admin)
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "events.3.event_id"
    assert api.rows("education_events") == 1
    replay = [*good, good[0], event("known", "c1", "fcs-article-1", "delivered", "sms", day(21))]
    r = api.client.post("/v1/education/events/batch", json={"events": replay}, headers=api.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["recorded"], r.json()["replayed"]) == (3, 2)
    assert api.rows("education_events") == 4


def test_the_library_and_quizzes_as_the_app_reads_them(app_client: Api) -> None:
    api = app_client
    listing = api.client.get("/v1/education/content?topic=over_borrowing", headers=api.admin)
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert {i["kind"] for i in items} == {"article", "video"}
    videos = api.client.get("/v1/education/content?kind=video&locale=en", headers=api.admin)
    assert videos.json()["items"]
    assert all(i["duration_s"] for i in videos.json()["items"])
    one = api.client.get("/v1/education/content/privacy-article-1", headers=api.admin).json()
    assert set(one["body"]) == {"zh-CN", "en"}
    assert api.client.get("/v1/education/content/nope", headers=api.admin).status_code == 404
    assert api.client.get("/v1/education/quizzes/nope", headers=api.admin).status_code == 404


# -- decisions, labels and cases for the later-scams comparison (rows as the engine writes them) --


def _decision(conn: Any, did: str, customer: str, action: str, at: datetime) -> None:
    conn.execute(
        insert(DecisionRecord).values(
            decision_id=did,
            event_id=f"ev-{did}",
            customer_id=customer,
            event_type="transfer",
            occurred_at=at,
            action=action,
            score=80,
            reasons=[{"code": "CALL_ACTIVE", "weight": 40}],
            measures=[],
            messages=[],
            guardrails=[],
            ruleset_version=1,
            latency_us=100,
            decided_at=at,
        )
    )


def _outflow(conn: Any, eid: str, customer: str, at: datetime, *labels: int) -> None:
    conn.execute(
        insert(EventRecord).values(
            event_id=eid,
            customer_id=customer,
            type="transfer",
            occurred_at=at,
            body_hash="x",
            body={},
            received_at=at,
        )
    )
    for i, label in enumerate(labels):
        conn.execute(
            insert(LabelRecord).values(
                event_id=eid, label=label, known_at=at + timedelta(days=i + 1), source="test"
            )
        )


def _case(
    conn: Any, cid: str, customer: str, state: str, decisions: list[str], at: datetime
) -> None:
    conn.execute(
        insert(Case).values(
            id=cid,
            customer_id=customer,
            case_type="fraud",
            state=state,
            scam_type="investment",
            opened_at=at,
            updated_at=at,
            sla_due_at=at + timedelta(days=1),
        )
    )
    for i, did in enumerate(decisions):
        conn.execute(
            insert(CaseDecision).values(
                case_id=cid,
                decision_id=did,
                event_id=f"ev-{did}",
                action="intercept",
                added_at=at + timedelta(minutes=i),
            )
        )


def test_later_scams_compare_completers_with_customers_never_reached(
    pinned_clock: Any, app_client: Api
) -> None:
    api = app_client
    post_reports(api)  # c1 and c6 completed; c2, c3 reached only
    with api.services.decisions.db.begin() as conn:
        # c1: a confirmed scam 4 days after its first delivery (21 Feb)
        _outflow(conn, "o-c1", "c1", day(25), 1)
        # c6: a confirmed scam before its delivery: not later
        _outflow(conn, "o-c6", "c6", day(10), 1)
        # x1: intercepted on 22 Feb; that very outflow is fraud (not later), and so is one on
        # 10 March (within 30 days)
        _decision(conn, "d-x1", "x1", "intercept", day(22))
        _outflow(conn, "ev-d-x1", "x1", day(22), 1)
        _outflow(conn, "o-x1", "x1", day(38), 1)
        # x2: reminded on 23 Feb; its case (first decision 27 Feb) resolved as a scam victim
        _decision(conn, "d-x2", "x2", "remind", day(23))
        _decision(conn, "d-x2b", "x2", "intercept", day(27))
        _case(conn, "case-x2", "x2", "resolved_scam_victim", ["d-x2b"], day(27))
        # x3: intercepted, its own case resolved as fraud: the intervention itself, not later
        _decision(conn, "d-x3", "x3", "intercept", day(24))
        _case(conn, "case-x3", "x3", "resolved_fraud", ["d-x3"], day(24))
        # x4: blocked; a later outflow labelled fraud, then legitimate (the latest label counts)
        _decision(conn, "d-x4", "x4", "block", day(24))
        _outflow(conn, "o-x4", "x4", day(25), 1, 0)
        # x5: allowed (no intervention); c2: an intervention but reached (not a comparison)
        _decision(conn, "d-x5", "x5", "allow", day(24))
        _outflow(conn, "o-x5", "x5", day(25), 1)
        _decision(conn, "d-c2", "c2", "intercept", day(24))
        # x6: intervention after the period
        _decision(conn, "d-x6", "x6", "intercept", day(30))
    later = api.client.get(f"/v1/education/reach?{PERIOD}", headers=api.admin).json()["later_scams"]
    assert later["follow_up_days"] == 30
    assert (later["reached_customers"], later["reached_scammed"]) == (2, 1)
    assert (later["comparison_customers"], later["comparison_scammed"]) == (4, 2)
    assert later["reached_rate"] == 0.5
    assert later["comparison_rate"] == 0.5
    assert set(later["caveat"]) == {"zh-CN", "en"}
    assert "not the effect of education" in later["caveat"]["en"]


def test_content_for_a_stored_decision_and_a_case(pinned_clock: Any, app_client: Api) -> None:
    api = app_client
    with api.services.decisions.db.begin() as conn:
        _decision(conn, "d-1", "x1", "intercept", day(22))
        _case(conn, "case-1", "x1", "new", ["d-1"], day(22))
    r = api.client.get("/v1/education/for-decision/d-1", headers=api.admin)
    assert r.status_code == 200, r.text
    assert r.json()["reason_codes"] == ["CALL_ACTIVE"]
    assert [x["topic"] for x in r.json()["links"]] == ["fake_customer_service"] * 2
    r = api.client.get("/v1/education/for-case/case-1", headers=api.admin)
    assert r.json()["typology"] == "investment"
    assert [x["topic"] for x in r.json()["links"]] == [
        "elderly_investment",
        "fake_customer_service",
    ]
    assert api.client.get("/v1/education/for-decision/nope", headers=api.admin).status_code == 404
    assert api.client.get("/v1/education/for-case/nope", headers=api.admin).status_code == 404


def test_reach_counts_each_customer_once_however_many_reports(
    pinned_clock: Any, app_client: Api
) -> None:
    """A customer with several deliveries on several channels is one reached customer, in
    each channel's group."""
    api = app_client
    batch = [
        event("m1", "c1", "mule-article-1", "delivered", "sms", day(21)),
        event("m2", "c1", "mule-article-1", "delivered", "app", day(22)),
        event("m3", "c1", "ring-article-1", "delivered", "app", day(23)),
    ]
    api.client.post("/v1/education/events/batch", json={"events": batch}, headers=api.admin)
    reach = reach_metrics(api.services.decisions.db, START, END)
    assert (reach.customers_reached, reach.deliveries) == (1, 3)
    assert {g.key: g.reached for g in reach.by_channel} == {"app": 1, "sms": 1}
    assert {g.key: g.reached for g in reach.by_topic} == {"mule": 1, "ring": 1}
    per_customer: dict[str, int] = defaultdict(int)
    for g in reach.by_age_band:
        per_customer[g.key] += g.reached
    assert sum(per_customer.values()) == 1


def test_the_demo_seed_records_reach_through_the_service(
    pinned_clock: Any, app_client: Api
) -> None:
    """Deterministic by seed; a second run records nothing new (idempotent by event_id)."""
    api = app_client
    with api.services.decisions.db.begin() as conn:
        for i in range(20):
            _decision(
                conn, f"d-{i:02d}", f"cust-{i:02d}", "intercept", day(21) + timedelta(hours=i)
            )
        _decision(conn, "d-allow", "cust-allow", "allow", day(21))
    db = api.services.decisions.db
    now = PINNED_NOW
    first = seed_education(db, now, random.Random(7), delivered_share=0.9)
    assert first["delivered"] > 0
    assert first["delivered"] >= first["opened"] >= first["completed"] >= first["quiz_answers"]
    rows = (api.rows("education_events"), api.rows("education_quiz_answers"))
    assert seed_education(db, now, random.Random(7), delivered_share=0.9) == first
    assert (api.rows("education_events"), api.rows("education_quiz_answers")) == rows
    reach = reach_metrics(db, START, END)
    assert (reach.customers_reached, reach.deliveries) == (first["customers"], first["delivered"])
    assert reach.customers_completed == first["completed"]
    assert reach.quiz.answers == first["quiz_answers"]
    assert reach.later_scams.comparison_customers == 20 - first["customers"]


def test_events_round_trip_into_the_protection_report(pinned_clock: Any, app_client: Api) -> None:
    """Done-when of issue #21: the app's education reports reach the report's education
    section (the JSON and the HTML) with the figures counted here."""
    seed_profile(app_client)
    post_reports(app_client)
    r = app_client.client.get(f"/v1/reports/protection?{PERIOD}", headers=app_client.admin)
    assert r.status_code == 200, r.text
    education = r.json()["education"]
    want = expected_reach()
    assert (
        education["customers_reached"],
        education["customers_opened"],
        education["customers_completed"],
    ) == want["totals"]
    assert (education["deliveries"], education["openings"], education["completions"]) == (
        want["events"]
    )
    channels = {
        g["key"]: (g["reached"], g["opened"], g["completed"]) for g in education["by_channel"]
    }
    assert channels == want["channel"]
    from lendguard.reporting.render import render_html
    from lendguard.reporting.schemas import ProtectionReport

    html = render_html(ProtectionReport.model_validate(r.json()), "en")
    assert 'id="report-education"' in html
    table = html[html.index('id="reach-channel"') :]
    table = table[: table.index("</table>")]
    shown = {
        key: tuple(int(n.replace(",", "")) for n in re.findall(r'class="num">([\d,]+)<', row)[:3])
        for key, row in re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', table)
    }
    assert shown == want["channel"]
