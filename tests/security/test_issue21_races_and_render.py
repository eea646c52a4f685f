"""Issue #21, an attacker's pass: what held up, kept as regressions.

* The same education event or quiz answer posted at once from eight places is one row; every
  post gets 200 (one recorded, the others replayed), never a 500. A phone number sent as the
  customer id is stored as its pseudonym.
* The protection report prints stored strings (lender, typologies, jurisdictions, consent
  purposes and channels, actions) escaped, and WeasyPrint fetches nothing while printing it."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fixtures import PINNED_NOW, Api, served_app
from lendguard.models.education import EducationEvent, EducationQuizAnswer
from lendguard.reporting import render
from lendguard.reporting.schemas import ProtectionReport
from reporting.test_render import sample_report

PHONE = "13800138000"
EVIL = (
    '<img src="http://127.0.0.1:9/x.png"><script>alert(1)</script>'
    '<style>@import url("file:///etc/passwd");</style><link rel="stylesheet" href="/x.css">'
)


def _at_once(base: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[int]:
    statuses: list[int] = []
    start = threading.Barrier(8)

    def post() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            start.wait()
            statuses.append(client.post(path, json=body, headers=headers).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.usefixtures("pinned_clock")
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_same_event_and_answer_at_once_are_one_row(case_app: Api) -> None:
    api = case_app
    content = api.client.get("/v1/education/content", headers=api.admin).json()["items"][0]
    quiz = api.client.get(f"/v1/education/quizzes/{content['topic']}", headers=api.admin).json()
    at = (PINNED_NOW - timedelta(hours=1)).isoformat()
    event = {
        "event_id": "race-1",
        "customer_id": PHONE,
        "content_id": content["id"],
        "kind": "delivered",
        "channel": "sms",
        "occurred_at": at,
    }
    first = quiz["questions"][0]
    answer = {
        "event_id": "race-2",
        "customer_id": PHONE,
        "quiz_version": quiz["version"],
        "answers": {first["id"]: first["options"][0]["id"]},
        "channel": "app",
        "answered_at": at,
    }
    with served_app(api.app) as base:
        assert _at_once(base, "/v1/education/events", event, api.admin) == [200] * 8
        path = f"/v1/education/quizzes/{content['topic']}/answers"
        assert _at_once(base, path, answer, api.admin) == [200] * 8
    with api.services.decisions.db.connect() as conn:
        events = conn.execute(select(EducationEvent.event_id, EducationEvent.customer_id)).all()
        answers = conn.execute(
            select(EducationQuizAnswer.event_id, EducationQuizAnswer.customer_id)
        ).all()
    assert [e.event_id for e in events] == ["race-1"]
    assert [a.event_id for a in answers] == ["race-2"]
    for row in (*events, *answers):
        assert PHONE not in row.customer_id


def _hostile_report() -> ProtectionReport:
    data = sample_report(days=1).model_dump()  # one day: a quicker PDF
    data["lender"] = EVIL
    data["title"] = {"zh-CN": EVIL, "en": EVIL}
    typology = data["interventions"]["by_typology"][0]
    typology["typology"], typology["label"] = EVIL, {"zh-CN": EVIL, "en": EVIL}
    data["interventions"]["by_action"][EVIL] = 3
    data["interventions"]["per_day"][0]["counts"][EVIL] = 3
    data["complaints"]["by_jurisdiction"][0]["jurisdiction"] = EVIL
    consent = data["consent"]["rows"][0]
    consent["purpose"], consent["channel"] = EVIL, EVIL
    consent["label"] = {"zh-CN": EVIL, "en": EVIL}
    return ProtectionReport.model_validate(data)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_stored_strings_are_escaped_in_the_report(locale: str) -> None:
    html = render.render_html(_hostile_report(), locale)
    for raw in ("<script>alert", "<img src", '<style>@import url("file', "<link rel"):
        assert raw not in html
    assert "&lt;script&gt;" in html


def test_the_pdf_fetches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    refuse = render._refuse_fetch

    def spy(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        asked.append(url)
        return refuse(url, *args, **kwargs)

    monkeypatch.setattr(render, "_refuse_fetch", spy)
    pdf = render.render_pdf(_hostile_report(), "en")
    assert pdf.startswith(b"%PDF-")
    assert asked == []
