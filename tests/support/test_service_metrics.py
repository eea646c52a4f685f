"""Service metrics: first-contact resolution at its window's boundaries, time to first response
(median and p90), CSAT, the survey's idempotency and masking, validation, scopes, and the
console page, over HTTP on both databases."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fixtures import Api, sign_in
from lendguard.models import AuditEntry, ServiceSurvey
from lendguard.policies import clear_cache
from lendguard.support import service_desk as desk_module
from lendguard.support.service_desk import (
    ContactFacts,
    FcrStatus,
    ServiceDesk,
    classify,
    median,
    nearest_rank,
)

# Outcomes here are read against "now": pinned for every test.
pytestmark = pytest.mark.usefixtures("pinned_clock")

PROBLEM = "application/problem+json"
T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def facts(
    cid: str,
    opened: datetime,
    closed: datetime | None = None,
    outcome: str = "resolved",
    customer: str = "c1",
    topic: str | None = "repayment_methods",
    window: timedelta = WEEK,
) -> ContactFacts:
    return ContactFacts(
        cid, customer, topic, opened, closed, outcome if closed is not None else None, window
    )


A_CLOSED = T + timedelta(minutes=20)


def first_resolved() -> ContactFacts:
    """Opened at T, resolved 20 minutes later: its window runs to A_CLOSED + 7 days."""
    return facts("a", T, A_CLOSED)


# -- first-contact resolution (pure) ---------------------------------------------------------------


class TestFirstContactResolution:
    def test_a_repeat_on_day_6_undoes_it_and_one_on_day_8_does_not(self) -> None:
        a = first_resolved()
        later = T + timedelta(days=30)
        day6 = classify([a, facts("b", A_CLOSED + timedelta(days=6))], later)
        assert day6["a"].status == FcrStatus.repeated
        assert day6["a"].repeated_by == "b"
        assert day6["b"].status == FcrStatus.repeat
        assert day6["b"].repeat_of == "a"
        day8 = classify([a, facts("b", A_CLOSED + timedelta(days=8))], later)
        assert day8["a"].status == FcrStatus.resolved_first_contact
        assert day8["b"].status == FcrStatus.open  # a first contact of its own, not a repeat

    def test_the_window_boundary_is_included(self) -> None:
        a = first_resolved()
        end = A_CLOSED + WEEK
        later = T + timedelta(days=30)
        on_the_boundary = classify([a, facts("b", end)], later)
        assert on_the_boundary["a"].status == FcrStatus.repeated
        assert on_the_boundary["b"].status == FcrStatus.repeat
        a_second_after = classify([a, facts("b", end + timedelta(seconds=1))], later)
        assert a_second_after["a"].status == FcrStatus.resolved_first_contact
        assert a_second_after["b"].status == FcrStatus.open
        assert a_second_after["a"].window_ends_at == end

    def test_pending_while_the_window_runs(self) -> None:
        a = first_resolved()
        end = A_CLOSED + WEEK
        assert classify([a], end)["a"].status == FcrStatus.pending
        assert classify([a], end + timedelta(seconds=1))["a"].status == (
            FcrStatus.resolved_first_contact
        )

    def test_another_topic_or_customer_is_no_repeat(self) -> None:
        a = first_resolved()
        day2 = T + timedelta(days=2)
        others = [
            facts("other-topic", day2, topic="late_fees"),
            facts("other-customer", day2, customer="c2"),
            facts("no-topic-yet", day2, topic=None),
        ]
        statuses = classify([a, *others], T + timedelta(days=30))
        assert statuses["a"].status == FcrStatus.resolved_first_contact
        assert {statuses[o.conversation_id].status for o in others} == {FcrStatus.open}

    def test_escalated_abandoned_and_still_open_contacts(self) -> None:
        later = T + timedelta(days=30)
        escalated = facts("e", T, T + timedelta(minutes=5), "escalated")
        assert classify([escalated], later)["e"].status == FcrStatus.not_resolved
        # An abandoned call starts no issue: the call back an hour later is a first contact.
        abandoned = facts("x", T, T + timedelta(minutes=1), "abandoned")
        callback = facts("y", T + timedelta(hours=1), T + timedelta(hours=1, minutes=9))
        statuses = classify([abandoned, callback], later)
        assert statuses["x"].status == FcrStatus.abandoned
        assert statuses["y"].status == FcrStatus.resolved_first_contact
        # Writing in again while the first contact is still open is a repeat, however late.
        still_open = facts("o", T)
        chase = facts("p", T + timedelta(days=20))
        statuses = classify([still_open, chase], later)
        assert (statuses["o"].status, statuses["p"].status) == (FcrStatus.open, FcrStatus.repeat)

    def test_a_chain_of_repeats_belongs_to_the_first_issue(self) -> None:
        a = first_resolved()
        b = facts("b", T + timedelta(days=5), T + timedelta(days=5, minutes=10))
        c = facts("c", T + timedelta(days=11))  # 11 days after a's close, 6 after b's
        statuses = classify([c, b, a], T + timedelta(days=40))
        assert [statuses[x].status for x in "abc"] == [
            FcrStatus.repeated,
            FcrStatus.repeat,
            FcrStatus.repeat,
        ]

    def test_the_window_comes_from_the_support_policy(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        shipped = Path(desk_module.__file__).with_name("policies") / "uk.yaml"
        folder = tmp_path / "policies" / "support"
        folder.mkdir(parents=True)
        text = shipped.read_text(encoding="utf-8")
        marker = "      fcr_repeat_window_days:\n        value: 7"
        assert marker in text
        (folder / "uk.yaml").write_text(
            text.replace(marker, "      fcr_repeat_window_days:\n        value: 3"),
            encoding="utf-8",
        )
        monkeypatch.setenv("LENDGUARD_POLICY_DIR", str(tmp_path / "policies"))
        clear_cache()
        try:
            desk = ServiceDesk(engine=None)  # type: ignore[arg-type]
            assert desk.fcr_window_days("UK", date(2026, 3, 2)) == 3
            assert desk.fcr_window_days("CN", date(2026, 3, 2)) == 7
            # before the first version of the policy: the module default
            assert (
                desk.fcr_window_days("CN", date(2019, 1, 1)) == desk_module.DEFAULT_FCR_WINDOW_DAYS
            )
        finally:
            clear_cache()


class TestPercentiles:
    def test_median_and_nearest_rank_p90_on_known_values(self) -> None:
        values = [100.0, 10.0, 90.0, 20.0, 80.0, 30.0, 70.0, 40.0, 60.0, 50.0]
        assert median(values) == 55.0
        assert nearest_rank(values, 0.9) == 90.0
        assert nearest_rank(sorted(values)[:9], 0.9) == 90.0  # 10..90: rank ceil(8.1) = 9
        assert nearest_rank([7.0], 0.9) == 7.0
        assert median([]) is None
        assert nearest_rank([], 0.9) is None


# -- over HTTP ------------------------------------------------------------------------------------


def ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def post(api: Api, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return api.client.post(url, json=body, headers=headers or api.admin)


def contact(
    api: Api,
    cid: str,
    opened: datetime,
    *,
    customer: str = "cust-1",
    channel: str = "chat",
    responded: datetime | None = None,
    closed: datetime | None = None,
    topic: str = "repayment_methods",
    outcome: str = "resolved",
) -> dict[str, Any]:
    body = {
        "conversation_id": cid,
        "customer_id": customer,
        "channel": channel,
        "opened_at": opened.isoformat(),
        "topic": topic,
    }
    opened_response = post(api, "/v1/support/contacts", body)
    assert opened_response.status_code == 201, opened_response.text
    result: dict[str, Any] = opened_response.json()
    if responded is not None:
        answer = post(
            api,
            f"/v1/support/contacts/{cid}/first-response",
            {"responded_at": responded.isoformat()},
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
    if closed is not None:
        done = post(
            api,
            f"/v1/support/contacts/{cid}/close",
            {"closed_at": closed.isoformat(), "topic": topic, "outcome": outcome},
        )
        assert done.status_code == 200, done.text
        result = done.json()
    return result


def survey(api: Api, cid: str, score: Any, comment: str | None = None) -> Any:
    body: dict[str, Any] = {"conversation_id": cid, "score": score}
    if comment is not None:
        body["comment"] = comment
    return post(api, "/v1/support/surveys", body)


def metrics(api: Api, days: int = 30) -> dict[str, Any]:
    response = api.client.get("/v1/support/metrics", params={"days": days}, headers=api.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestMetricsApi:
    def test_first_contact_resolution_with_repeats_on_day_6_and_day_8(
        self, app_client: Api
    ) -> None:
        a_open = ago(days=10)
        a_closed = a_open + timedelta(minutes=12)
        reply = timedelta(seconds=30)
        contact(app_client, "A", a_open, customer="ann", responded=a_open + reply, closed=a_closed)
        contact(app_client, "B", a_closed + timedelta(days=6), customer="ann")  # repeat of A
        c_open = ago(days=20)
        c_closed = c_open + timedelta(minutes=12)
        contact(app_client, "C", c_open, customer="bob", responded=c_open + reply, closed=c_closed)
        contact(app_client, "D", c_closed + timedelta(days=8), customer="bob")  # a new issue
        figures = metrics(app_client)
        fcr = figures["first_contact_resolution"]
        assert figures["contacts"] == 4
        assert (fcr["resolved_first_contact"], fcr["repeated"], fcr["rate"]) == (1, 1, 0.5)
        assert (fcr["repeat_contacts"], fcr["open"], fcr["pending"]) == (1, 1, 0)
        assert figures["fcr_window_days"] == {"CN": 7, "US": 7, "UK": 7}
        a = app_client.client.get("/v1/support/contacts/A", headers=app_client.admin).json()
        assert a["first_contact_resolution"]["status"] == "repeated"
        assert a["first_contact_resolution"]["repeated_by"] == "B"
        c = app_client.client.get("/v1/support/contacts/C", headers=app_client.admin).json()
        assert c["first_contact_resolution"]["status"] == "resolved_first_contact"
        # The last 7 days hold only B, still a repeat of A (opened before the period).
        week = metrics(app_client, 7)
        assert week["contacts"] == 1
        assert week["first_contact_resolution"]["repeat_contacts"] == 1
        assert week["first_contact_resolution"]["rate"] is None

    def test_a_contact_still_in_its_window_is_pending(self, app_client: Api) -> None:
        opened = ago(days=2)
        contact(
            app_client,
            "P",
            opened,
            responded=opened + timedelta(seconds=5),
            closed=opened + timedelta(minutes=3),
        )
        fcr = metrics(app_client)["first_contact_resolution"]
        assert (fcr["pending"], fcr["rate"], fcr["provisional_rate"]) == (1, None, 1.0)

    def test_time_to_first_response_median_and_p90_overall_and_by_channel(
        self, app_client: Api
    ) -> None:
        base = ago(days=1)
        for i, seconds in enumerate(range(10, 101, 10)):
            opened = base + timedelta(minutes=i)
            contact(
                app_client,
                f"t{i}",
                opened,
                customer=f"c{i}",
                channel="chat" if seconds <= 50 else "phone",
                responded=opened + timedelta(seconds=seconds),
            )
        contact(app_client, "waiting", base)  # no reply yet: not in the times
        figures = metrics(app_client)
        ttfr = figures["first_response"]
        assert (ttfr["responded"], ttfr["awaiting"]) == (10, 1)
        assert (ttfr["median_seconds"], ttfr["p90_seconds"], ttfr["mean_seconds"]) == (
            55.0,
            90.0,
            55.0,
        )
        chat = figures["by_channel"]["chat"]["first_response"]
        phone = figures["by_channel"]["phone"]["first_response"]
        assert (chat["median_seconds"], chat["p90_seconds"]) == (30.0, 50.0)
        assert (phone["median_seconds"], phone["p90_seconds"]) == (80.0, 100.0)
        single = app_client.client.get("/v1/support/contacts/t3", headers=app_client.admin)
        assert single.json()["first_response_seconds"] == 40.0

    def test_csat_mean_share_and_distribution(self, app_client: Api) -> None:
        base = ago(days=3)
        for i, score in enumerate([5, 4, 3, 5, 1]):
            cid = f"s{i}"
            contact(
                app_client,
                cid,
                base,
                customer=f"c{i}",
                channel="phone" if i < 2 else "app",
                responded=base + timedelta(seconds=20),
                closed=base + timedelta(minutes=5),
            )
            assert survey(app_client, cid, score).status_code == 201
        contact(
            app_client,
            "unsurveyed",
            base,
            customer="c9",
            responded=base + timedelta(seconds=20),
            closed=base + timedelta(minutes=5),
        )
        figures = metrics(app_client)
        csat = figures["satisfaction"]
        assert (csat["responses"], csat["mean"], csat["satisfied_share"]) == (5, 3.6, 0.6)
        assert csat["distribution"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 2}
        assert csat["response_rate"] == round(5 / 6, 4)
        phone = figures["by_channel"]["phone"]["satisfaction"]
        assert (phone["mean"], phone["satisfied_share"]) == (4.5, 1.0)

    def test_a_bad_days_or_jurisdiction_is_a_422(self, app_client: Api) -> None:
        for params in ({"days": 0}, {"days": 400}, {"jurisdiction": "FR"}):
            response = app_client.client.get(
                "/v1/support/metrics", params=params, headers=app_client.admin
            )
            assert response.status_code == 422, params
            assert any(next(iter(params)) in e["field"] for e in response.json()["errors"]), (
                response.text
            )


class TestSurveys:
    def test_one_survey_per_contact_a_replay_answers_the_first(self, app_client: Api) -> None:
        opened = ago(hours=3)
        contact(
            app_client,
            "S1",
            opened,
            responded=opened + timedelta(seconds=9),
            closed=opened + timedelta(minutes=4),
        )
        first = survey(app_client, "S1", 4, "quick and kind")
        assert first.status_code == 201, first.text
        assert (first.json()["replayed"], first.json()["satisfied"]) == (False, True)
        again = survey(app_client, "S1", 4, "quick and kind")
        assert again.status_code == 200
        assert again.json()["replayed"] is True
        other = survey(app_client, "S1", 2, "changed my mind")
        assert other.status_code == 409
        assert other.headers["content-type"] == PROBLEM
        assert other.json()["errors"][0]["field"] == "conversation_id"
        with app_client.services.decisions.db.connect() as conn:
            rows = conn.execute(select(ServiceSurvey.score)).scalars().all()
            audits = (
                conn.execute(
                    select(AuditEntry.action).where(AuditEntry.target == "service_contact:S1")
                )
                .scalars()
                .all()
            )
        assert rows == [4]
        assert sorted(audits) == [
            "service_contact.closed",
            "service_contact.first_response",
            "service_contact.opened",
            "service_contact.survey",
        ]

    @pytest.mark.parametrize("score", [0, 6, 4.5, "5", True, None])
    def test_an_invalid_score_is_a_422_naming_it(self, app_client: Api, score: Any) -> None:
        contact(app_client, "S2", ago(hours=1))
        response = survey(app_client, "S2", score)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert [e["field"] for e in response.json()["errors"]] == ["score"]

    def test_an_unknown_contact_or_field(self, app_client: Api) -> None:
        unknown = survey(app_client, "nobody", 5)
        assert unknown.status_code == 404
        assert unknown.json()["errors"][0]["field"] == "conversation_id"
        contact(app_client, "S3", ago(hours=1))
        extra = post(
            app_client, "/v1/support/surveys", {"conversation_id": "S3", "score": 5, "nps": 9}
        )
        assert extra.status_code == 422
        assert extra.json()["errors"][0]["field"] == "nps"
        early = post(
            app_client,
            "/v1/support/surveys",
            {"conversation_id": "S3", "score": 5, "submitted_at": ago(days=2).isoformat()},
        )
        assert early.status_code == 422
        assert early.json()["errors"][0]["field"] == "submitted_at"

    def test_personal_information_in_the_comment_is_stored_masked(self, app_client: Api) -> None:
        contact(app_client, "S4", ago(hours=1))
        phone = "13812345678"
        sent = survey(app_client, "S4", 2, f"Nobody called me back on {phone}, very slow")
        assert sent.status_code == 201, sent.text
        assert phone not in sent.text
        with app_client.services.decisions.db.connect() as conn:
            stored = conn.execute(select(ServiceSurvey)).one()
            audit_detail = conn.execute(
                select(AuditEntry.detail).where(AuditEntry.action == "service_contact.survey")
            ).scalar_one()
        assert stored.comment_masked == "Nobody called me back on 138****5678, very slow"
        assert stored.pii_types == ["CN_MOBILE"]
        assert phone not in str(audit_detail)
        assert "slow" not in str(audit_detail)
        shown = app_client.client.get("/v1/support/contacts/S4", headers=app_client.admin).json()
        assert shown["survey"]["comment"] == stored.comment_masked


class TestRecordingContacts:
    def test_opening_again_is_idempotent_and_a_change_is_a_409(self, app_client: Api) -> None:
        opened = ago(minutes=30)
        body = {
            "conversation_id": "O1",
            "customer_id": "cust-1",
            "channel": "phone",
            "opened_at": opened.isoformat(),
        }
        assert post(app_client, "/v1/support/contacts", body).status_code == 201
        again = post(app_client, "/v1/support/contacts", body)
        assert again.status_code == 200
        assert again.json()["replayed"] is True
        changed = post(app_client, "/v1/support/contacts", {**body, "customer_id": "cust-2"})
        assert changed.status_code == 409
        assert [e["field"] for e in changed.json()["errors"]] == ["customer_id"]

    @pytest.mark.parametrize(
        ("step", "body", "field"),
        [
            ("first-response", {"responded_at": -60}, "responded_at"),
            ("first-response", {"responded_at": "2026-01-01T10:00:00"}, "responded_at"),
            ("first-response", {"responded_at": 3600}, "responded_at"),  # in the future
            ("close", {"closed_at": -1, "topic": "late_fees"}, "closed_at"),
            ("close", {"topic": "Late Fees!"}, "topic"),
            ("close", {"outcome": "solved", "topic": "late_fees"}, "outcome"),
        ],
    )
    def test_a_bad_time_or_field_is_a_422_naming_it(
        self, app_client: Api, step: str, body: dict[str, Any], field: str
    ) -> None:
        opened = ago(minutes=30)
        contact(app_client, "V1", opened)
        if step == "close":
            post(app_client, "/v1/support/contacts/V1/first-response", {})
        payload = {
            k: (opened + timedelta(seconds=v)).isoformat() if isinstance(v, int) else v
            for k, v in body.items()
        }
        response = post(app_client, f"/v1/support/contacts/V1/{step}", payload)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert field in {e["field"] for e in response.json()["errors"]}
        shown = app_client.client.get("/v1/support/contacts/V1", headers=app_client.admin).json()
        assert shown["closed_at"] is None
        assert (shown["first_response_at"] is None) == (step == "first-response")

    def test_opened_in_the_future_or_naive_is_a_422(self, app_client: Api) -> None:
        for opened_at in ((ago(hours=-2)).isoformat(), "2026-03-02T10:00:00"):
            response = post(
                app_client,
                "/v1/support/contacts",
                {
                    "conversation_id": "F1",
                    "customer_id": "c",
                    "channel": "app",
                    "opened_at": opened_at,
                },
            )
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "opened_at"

    def test_closing_needs_a_reply_and_a_topic_and_is_final(self, app_client: Api) -> None:
        opened = ago(minutes=30)
        body = {"conversation_id": "K1", "customer_id": "c", "channel": "email"}
        created = post(
            app_client, "/v1/support/contacts", {**body, "opened_at": opened.isoformat()}
        )
        assert created.status_code == 201
        assert created.json()["topic"] is None
        url = "/v1/support/contacts/K1"
        unanswered = post(app_client, f"{url}/close", {"topic": "late_fees"})
        assert unanswered.status_code == 409
        assert unanswered.json()["errors"][0]["field"] == "first_response_at"
        reply = (opened + timedelta(seconds=45)).isoformat()
        assert post(app_client, f"{url}/first-response", {"responded_at": reply}).is_success
        assert post(app_client, f"{url}/first-response", {"responded_at": reply}).json()["replayed"]
        retried = post(app_client, f"{url}/first-response", {})  # a retry without the time
        assert retried.status_code == 200
        assert datetime.fromisoformat(retried.json()["first_response_at"]) == opened + timedelta(
            seconds=45
        )
        later = (opened + timedelta(seconds=50)).isoformat()
        other_reply = post(app_client, f"{url}/first-response", {"responded_at": later})
        assert other_reply.status_code == 409
        assert other_reply.json()["errors"][0]["field"] == "responded_at"
        no_topic = post(app_client, f"{url}/close", {})
        assert no_topic.status_code == 422
        assert no_topic.json()["errors"][0]["field"] == "topic"
        abandoned = post(app_client, f"{url}/close", {"outcome": "abandoned"})
        assert abandoned.status_code == 409
        closed_at = (opened + timedelta(minutes=10)).isoformat()
        close = {"topic": " Late_Fees ", "closed_at": closed_at}
        closed = post(app_client, f"{url}/close", close)
        assert closed.status_code == 200, closed.text
        assert (closed.json()["topic"], closed.json()["state"]) == ("late_fees", "closed")
        assert post(app_client, f"{url}/close", close).json()["replayed"] is True
        reopened = post(app_client, f"{url}/close", {"outcome": "escalated"})
        assert reopened.status_code == 409

    def test_scopes(self, app_client: Api) -> None:
        reader = app_client.key("cases:read")
        writer = app_client.key("cases:write")
        surveys = app_client.key("support:surveys")
        body = {"conversation_id": "Z1", "customer_id": "c", "channel": "chat"}
        denied = post(app_client, "/v1/support/contacts", body, reader)
        assert denied.status_code == 403
        assert "cases:write" in denied.json()["detail"]
        assert post(app_client, "/v1/support/contacts", body, writer).status_code == 201
        assert post(app_client, "/v1/support/contacts", body, surveys).status_code == 403
        assert survey_with(app_client, writer).status_code == 403
        assert survey_with(app_client, surveys).status_code == 201
        assert app_client.client.get("/v1/support/metrics", headers=reader).status_code == 200
        assert app_client.client.get("/v1/support/metrics", headers=surveys).status_code == 403
        assert app_client.client.get("/v1/support/contacts/Z1", headers=surveys).status_code == 403
        assert app_client.client.get("/v1/support/metrics").status_code == 401


def survey_with(api: Api, headers: dict[str, str]) -> Any:
    return post(api, "/v1/support/surveys", {"conversation_id": "Z1", "score": 5}, headers)


class TestConsole:
    def test_the_service_page_shows_the_figures_in_both_languages(self, case_app: Api) -> None:
        for i, (seconds, score) in enumerate([(30, 5), (90, 4), (600, 2)]):
            opened = ago(days=10 + i)
            contact(
                case_app,
                f"W{i}",
                opened,
                customer=f"c{i}",
                channel="phone",
                responded=opened + timedelta(seconds=seconds),
                closed=opened + timedelta(minutes=20),
                outcome="resolved" if i < 2 else "escalated",
            )
            assert survey(case_app, f"W{i}", score).status_code == 201
        officer = sign_in(case_app.app, case_app.services, "officer")
        page = officer.get("/console/service?days=30&lang=en")
        assert page.status_code == 200
        html = page.text
        assert 'id="kpi-contacts">3<' in html
        assert 'id="kpi-fcr">67%<' in html  # 2 of 3 decided contacts
        assert 'id="kpi-ttfr">1.5 min<' in html  # median 90 s
        assert 'id="kpi-ttfr-p90">10.0 min<' in html
        assert 'id="kpi-csat">3.67<' in html
        assert 'id="kpi-satisfied">67%<' in html
        assert 'aria-label="Satisfaction scores"' in html
        assert 'href="/console/service"' in html  # the nav link
        week = officer.get("/console/service?days=7")
        assert 'id="kpi-contacts">0<' in week.text
        zh = officer.get("/console/service?lang=zh-CN")
        assert "首次解决率" in zh.text
        assert "电话" in zh.text


class TestTheContract:
    """What the OpenAPI document says of the service desk is what it does."""

    def test_times_scores_and_replays_are_documented(self, app_client: Api) -> None:
        spec = app_client.client.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        opened = schemas["ContactOpen"]["properties"]["opened_at"]["anyOf"][0]
        assert opened["format"] == "date-time"
        assert re.fullmatch(opened["pattern"].strip("^$"), "2026-03-02T08:00:00+08:00")
        assert not re.search(opened["pattern"], "2026-03-02T08:00:00")  # naive: refused
        assert schemas["SurveySubmission"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
        contacts = spec["paths"]["/v1/support/contacts"]["post"]["responses"]
        assert {"200", "201", "409"} <= set(contacts)
        naive = post(
            app_client,
            "/v1/support/contacts",
            {
                "conversation_id": "N1",
                "customer_id": "c",
                "channel": "chat",
                "opened_at": "2026-03-02T08:00:00",
            },
        )
        assert naive.status_code == 422

    def test_a_caller_without_the_scope_is_refused_before_the_body_is_read(
        self, app_client: Api
    ) -> None:
        reader = app_client.key("cases:read")
        for url in ("/v1/support/contacts", "/v1/support/contacts/X/close"):
            assert post(app_client, url, {"channel": 5}, reader).status_code == 403, url
        writer = app_client.key("cases:write")
        assert post(app_client, "/v1/support/surveys", {"score": "x"}, writer).status_code == 403
