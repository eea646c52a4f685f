"""The console's interventions' effectiveness page (issue #19, item 7): the figures the service's
summary gives for interventions made here through the API (a scam intercepted and resolved as a
scam victim; a "yes" to a scam question, held, and released two hours later as legitimate; a
dissuasion left unanswered), per intervention and per scam typology, in zh-CN and in English,
with no code name on the page; a role without decisions:read is refused and has no link to it;
a bad period renders the page again with the reason, not a 500."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixtures import Api, make_event, r39_scam_events, sign_in
from lendguard.auth.service import ROLE_SCOPES, Role, Scope
from lendguard.console.i18n import translator
from lendguard.console.routes import (
    count_text,
    delay_text,
    effectiveness_period,
    rate_text,
    typology_name,
)
from lendguard.interventions.effectiveness import intervention_rows, summarise

pytestmark = pytest.mark.usefixtures("pinned_clock")

PAGE = "/console/interventions"
CODE_WORD = re.compile(r"\b(?:[a-z]+(?:_[a-z]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
PERIOD = {"from": "2026-02-01", "to": "2026-03-02"}  # the pinned clock's day is the last one
CELLS = (
    ("shown", "shown", count_text),
    ("abandoned", "abandoned", count_text),
    ("abandoned-rate", "abandoned_rate", rate_text),
    ("confirmed", "confirmed_scam", count_text),
    ("confirmed-rate", "confirmed_scam_rate", rate_text),
    ("honest", "honest_delayed", count_text),
)


def _case_of(api: Api, customer_id: str) -> dict[str, Any]:
    listing = api.client.get("/v1/cases", headers=api.admin).json()
    (found,) = [c for c in listing["cases"] if c["customer_id"] == customer_id]
    return dict(found)


def _resolve(api: Api, customer_id: str, to: str, note: str) -> None:
    """Through the case service, as the console's case page resolves a case."""
    case = _case_of(api, customer_id)
    api.services.cases.transition(case["id"], "triage", "user:analyst-eff")
    done = api.services.cases.transition(case["id"], to, "user:analyst-eff", note)
    assert done["state"] == to


def _seed(api: Api, clock: Any) -> None:
    """Three interventions: the student's intercepted 19,000 (a scam victim: the hold
    cancelled); a dissuaded 3,000 while sharing the screen whose answers say "yes" to a scam
    question (held under a case, released two hours later as legitimate); another dissuaded
    payment nobody answered."""
    *_, intercepted = [api.decide(e) for e in r39_scam_events("eff-victim")]
    assert intercepted["action"] == "intercept"
    _resolve(api, "eff-victim", "resolved_scam_victim", "customer stopped the transfer")

    asked = api.decide(
        make_event(
            customer_id="eff-honest",
            amount="3000.00",
            device_id="dev-honest",
            ip="10.0.0.2",
            session={"screen_share_active": True},
        )
    )
    assert asked["action"] == "dissuade", asked
    assert asked["challenge"] is not None
    answered = api.client.post(
        f"/v1/decisions/{asked['decision_id']}/challenge",
        json={
            "answers": {"told_by_authority": "yes", "screen_watched": "no", "purpose": "other"},
            "locale": "en",
            "channel": "app",
        },
        headers=api.key("challenges:answer"),
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["outcome"] == "escalated"
    clock.shift(timedelta(hours=2))
    _resolve(api, "eff-honest", "resolved_legit", "her own savings account, confirmed by call")

    ignored = api.decide(
        make_event(
            customer_id="eff-quiet",
            amount="3000.00",
            device_id="dev-quiet",
            ip="10.0.0.3",
            session={"screen_share_active": True},
        )
    )
    assert ignored["action"] == "dissuade", ignored


def _expected(api: Api, period: dict[str, str] | None = None) -> dict[str, Any]:
    """What the service's summary gives for the page's period (the same days, the same zone)."""
    zone = str(api.services.settings.console_timezone)
    chosen = period or {}
    *_, start, end = effectiveness_period(
        chosen.get("from"), chosen.get("to"), zone, datetime.now(UTC)
    )
    with api.services.decisions.db.connect() as conn:
        return summarise(intervention_rows(conn, start, end))


def _row(page: str, row_id: str) -> dict[str, str]:
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', page, re.S)
    assert found is not None, row_id
    cells = re.findall(r'<td(?: class="([^"]*)")?[^>]*>(.*?)</td>', found.group(1), re.S)
    texts = [html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for _, text in cells]
    named = {cls.split()[-1]: text for (cls, _), text in zip(cells, texts, strict=True) if cls}
    named["kind"] = texts[0]
    return named


def _words(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def _main_text(page: str) -> str:
    return _words(page.split("<main", 1)[-1].split(">", 1)[-1].split("</main>", 1)[0])


def test_the_page_shows_the_summary_per_intervention_and_typology_in_both_languages(
    case_app: Api, pinned_clock: Any
) -> None:
    _seed(case_app, pinned_clock)
    expected = _expected(case_app, PERIOD)
    total = expected["total"]
    # what was made above, as the module counts it
    assert (total["shown"], total["abandoned"], total["confirmed_scam"]) == (3, 1, 1)
    assert total["honest_delayed"] == 1
    assert total["median_honest_delay_minutes"] == pytest.approx(120, abs=1)
    assert [(k["intervention"], k["with_questions"]) for k in expected["by_intervention"]] == [
        ("dissuade", False),
        ("dissuade", True),
        ("intercept", False),
    ]
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    ruleset = case_app.services.decisions.ruleset

    for locale in ("zh-CN", "en"):
        t = translator(locale)
        page = analyst.get(PAGE, params={**PERIOD, "lang": locale})
        assert page.status_code == 200, page.text
        assert 'id="nav-interventions"' in page.text
        assert f'value="{PERIOD["from"]}"' in page.text
        assert f'value="{PERIOD["to"]}"' in page.text
        for name, key in (
            ("shown", "shown"),
            ("abandoned", "abandoned"),
            ("confirmed", "confirmed_scam"),
            ("honest", "honest_delayed"),
        ):
            assert f'id="total-{name}">{count_text(total[key])}<' in page.text
        assert f'id="total-abandoned-rate">{rate_text(total["abandoned_rate"])}<' in page.text
        delay = delay_text(total["median_honest_delay_minutes"], locale)
        assert delay == t("%s h") % "2.0"
        assert f'id="total-delay">{delay}<' in page.text

        for index, kind in enumerate(expected["by_intervention"], start=1):
            row = _row(page.text, f"kind-{index}")
            questions = t("with questions") if kind["with_questions"] else t("without questions")
            assert row["kind"] == f"{t(kind['intervention'])} · {questions}"
            for cls, key, shown in CELLS:
                assert row[cls] == shown(kind[key]), (locale, cls)
            assert row["delay"] == delay_text(kind["median_honest_delay_minutes"], locale)

        for index, group in enumerate(expected["groups"], start=1):
            row = _row(page.text, f"group-{index}")
            assert row["typology"] == typology_name(group["typology"], locale, ruleset)[0]
            assert row["typology"] not in ("", group["typology"])
            for cls, key, shown in CELLS:
                assert row[cls] == shown(group[key]), (locale, cls)
            assert row["delay"] == delay_text(group["median_honest_delay_minutes"], locale)
        assert f'id="group-{len(expected["groups"]) + 1}"' not in page.text

        text = _main_text(page.text)
        assert CODE_WORD.findall(text) == [], locale
        # each figure comes with what it means, in the page's language
        assert t("Confirmed scam later") in text
        assert (
            t(
                "The payment did not go ahead: the held payment was cancelled, or the customer's "
                "answers stopped it and it was not released afterwards."
            )
            in text
        )
    assert "事后确认为诈骗" in _main_text(analyst.get(PAGE, params={"lang": "zh-CN"}).text)


def test_the_default_period_is_the_last_30_days_up_to_today(
    case_app: Api, pinned_clock: Any
) -> None:
    _seed(case_app, pinned_clock)
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    page = analyst.get(PAGE, params={"lang": "en"})
    assert page.status_code == 200
    # the pinned clock's day in the console's zone (Asia/Shanghai: 2 March), 29 days before it
    assert 'name="from" id="period-from" value="2026-02-01"' in page.text
    assert 'name="to" id="period-to" value="2026-03-02"' in page.text
    total = _expected(case_app)["total"]
    assert f'id="total-shown">{count_text(total["shown"])}<' in page.text
    # a period before the interventions has none
    before = analyst.get(PAGE, params={"from": "2026-01-01", "to": "2026-01-31", "lang": "en"})
    assert before.status_code == 200
    assert 'id="total-shown">0<' in before.text
    assert "No interventions in this period." in before.text


@pytest.mark.parametrize(
    ("period", "field", "message"),
    [
        (
            {"from": "2026-13-01"},
            "From",
            "Enter a date as year-month-day, e.g. 2025-03-01.",
        ),
        ({"to": "yesterday"}, "To", "Enter a date as year-month-day, e.g. 2025-03-01."),
        (
            {"from": "2026-03-02", "to": "2026-02-01"},
            "From",
            "The first day must not be after the last day.",
        ),
        (
            {"from": "2024-01-01", "to": "2026-03-01"},
            "From",
            "The period can be at most 366 days.",
        ),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "From", None),
        ({"from": "<script>alert(1)</script>"}, "From", None),
    ],
)
def test_a_bad_period_renders_the_page_with_the_reason(
    case_app: Api, period: dict[str, str], field: str, message: str | None
) -> None:
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    for locale in ("zh-CN", "en"):
        t = translator(locale)
        page = analyst.get(PAGE, params={**period, "lang": locale})
        assert page.status_code == 422, page.text
        problem = re.search(r'id="period-problem"[^>]*>(.*?)</div>\s*</section>', page.text, re.S)
        assert problem is not None, page.text
        said = _words(problem.group(1))
        assert t("This period cannot be shown.") in said
        assert f"{t(field)}:" in said
        if message is not None:
            assert t(message) in said
        assert 'id="totals"' not in page.text
        assert "<script>alert" not in page.text  # what was typed comes back escaped


def test_a_role_without_decisions_read_is_refused_and_has_no_link(
    case_app: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No shipped role lacks decisions:read today; an approver without it stands in for one.
    monkeypatch.setitem(
        ROLE_SCOPES, Role.approver, ROLE_SCOPES[Role.approver] - {Scope.decisions_read}
    )
    approver = sign_in(case_app.app, case_app.services, "approver")
    refused = approver.get(PAGE, params={"lang": "en"})
    assert refused.status_code == 403
    assert "Your role does not allow this page or action." in refused.text
    other = approver.get("/console/cases", params={"lang": "en"})
    assert other.status_code == 200
    assert 'id="nav-interventions"' not in other.text
    # without a session: to the sign-in page
    anonymous = case_app.client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/login")
