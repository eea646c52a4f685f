"""Times in the console are in the operator's zone and name it (issue #15): the deployment's
LENDGUARD_CONSOLE_TIMEZONE (Asia/Shanghai unless set), or the user's own choice; and the case
timeline names people, never an API key's id."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from jinja2 import Environment
from pydantic import ValidationError

from fixtures import Api, r39_scam_events, sign_in
from lendguard.config import Settings
from lendguard.console.routes import risk_band, when

CASE_TIMES = re.compile(r'<time datetime="[^"]+" title="([^"]+)">[^<]+ (UTC[^<]*)</time>')


def _render(value: datetime, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    env = Environment(autoescape=True)
    env.filters["when"] = when
    return env.from_string("{{ v | when(f) }}").render(v=value, f=fmt, tz=zone)


def test_the_filter_shows_the_operators_zone_and_names_it() -> None:
    moment = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    shanghai = _render(moment, "Asia/Shanghai")
    assert ">2026-03-02 10:30 UTC+8</time>" in shanghai
    assert 'title="Asia/Shanghai"' in shanghai
    assert ">2026-03-02 08:00 UTC+5:30</time>" in _render(moment, "Asia/Kolkata")
    assert ">2026-03-01 21:30 UTC-5</time>" in _render(moment, "America/New_York")
    assert ">2026-03-02 02:30 UTC</time>" in _render(moment, "UTC")
    # SQLite hands some times back without a zone: they are UTC
    assert "10:30 UTC+8" in _render(moment.replace(tzinfo=None), "Asia/Shanghai")


def test_the_setting_defaults_to_shanghai_and_refuses_an_unknown_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).console_timezone == "Asia/Shanghai"
    monkeypatch.setenv("LENDGUARD_CONSOLE_TIMEZONE", "Europe/London")
    assert Settings(_env_file=None).console_timezone == "Europe/London"
    monkeypatch.setenv("LENDGUARD_CONSOLE_TIMEZONE", "Asia/Shangai")
    with pytest.raises(ValidationError, match="console_timezone"):
        Settings(_env_file=None)


def test_risk_bands_are_classes_not_inline_styles() -> None:
    assert [risk_band(s) for s in (0, 39, 40, 69, 70, 89, 90, 100)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


def test_each_user_sees_times_in_their_own_zone(case_app: Api) -> None:
    with time_machine.travel(datetime(2026, 3, 2, 2, 30, tzinfo=UTC), tick=False):
        for event in r39_scam_events():
            case_app.decide(event)
        case_id = case_app.services.cases.queue(limit=1)["cases"][0]["id"]
        ana = sign_in(case_app.app, case_app.services, "analyst", "ana")
        bo = sign_in(case_app.app, case_app.services, "analyst", "bo")
        page = ana.get(f"/console/cases/{case_id}").text
        zones = set(CASE_TIMES.findall(page))
        assert zones == {("Asia/Shanghai", "UTC+8")}
        assert "style=" not in page

        chosen = ana.post(
            "/console/preferences/timezone",
            data={"csrf": ana.csrf, "timezone": "America/New_York", "next": "/console/cases"},
            follow_redirects=False,
        )
        assert chosen.status_code == 303
        assert chosen.headers["location"] == "/console/cases"
        queue = ana.get("/console/cases").text
        assert set(CASE_TIMES.findall(queue)) == {("America/New_York", "UTC-5")}
        assert '<option value="America/New_York" selected>' in queue
        # the other analyst keeps the deployment's zone
        assert set(CASE_TIMES.findall(bo.get("/console/cases").text)) == {
            ("Asia/Shanghai", "UTC+8")
        }


def test_an_unknown_zone_is_refused_naming_the_field(case_app: Api) -> None:
    ana = sign_in(case_app.app, case_app.services, "analyst")
    refused = ana.post(
        "/console/preferences/timezone",
        data={"csrf": ana.csrf, "timezone": "Mars/Olympus_Mons"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "timezone" in refused.text
    assert '<option value="Asia/Shanghai" selected>' in ana.get("/console").text
    forged = ana.post(
        "/console/preferences/timezone",
        data={"csrf": "not-the-token", "timezone": "UTC"},
        follow_redirects=False,
    )
    assert forged.status_code == 403


def test_the_timeline_names_people_and_never_shows_a_key_id(case_app: Api) -> None:
    for event in r39_scam_events():
        case_app.decide(event)
    case_id = case_app.services.cases.queue(limit=1)["cases"][0]["id"]
    noted = case_app.client.post(
        f"/v1/cases/{case_id}/notes", json={"text": "called the branch"}, headers=case_app.admin
    )
    assert noted.status_code == 200, noted.text
    ana = sign_in(case_app.app, case_app.services, "analyst", "zhang.san")
    ana.post("/console/cases/next", data={"csrf": ana.csrf})
    page = ana.get(f"/console/cases/{case_id}").text
    start = page.index('<ol class="timeline">')
    timeline = page[start : page.index("</ol>", start)]
    assert "API key “bootstrap-admin”" in timeline
    assert "key:" not in page
    assert 'class="actor">zhang.san</span>' in timeline
    assert "user:zhang.san" not in page
    assert "LendGuard (automatic)" in timeline


def test_a_rule_snooze_until_is_read_in_the_operators_zone(
    case_app: Api, pinned_clock: time_machine.Coordinates
) -> None:
    # The form's "until" is the time the operator typed, in the zone the pages show them.
    admin = sign_in(case_app.app, case_app.services, "admin")
    ruleset = case_app.services.decisions.ruleset
    assert ruleset is not None
    posted = admin.post(
        "/console/lists",
        data={
            "csrf": admin.csrf,
            "kind": "suppression",
            "customer_id": "tenant-35",
            "rule_id": ruleset.rules[0].id,
            "until": "2026-03-10T09:00",
            "reason": "customer confirmed the payee in branch",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    (snooze,) = case_app.services.decisions.lists.rows()["suppressions"]
    assert snooze["until"] == datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    assert ">2026-03-10 09:00 UTC+8</time>" in admin.get("/console/lists").text
