"""The case page as an analyst reads it (issue #15 follow-ups): a crisis case opens with an
urgent banner, the agent's script and the hotlines named in the page's language, and closes as
"support given" with a note; the values beside a rule's reason are labelled in the page's
language, never by their feature names."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fixtures import r39_scam_events, sign_in
from lendguard.console.i18n import EN, ZH

pytestmark = pytest.mark.usefixtures("pinned_clock")

BANNER = re.compile(
    r'<section class="card crisis" role="alert" id="crisis-banner">(.*?)</section>', re.S
)


def _crisis_case(case_app: Any, jurisdictions: list[str]) -> str:
    case_id, opened = case_app.services.cases.open_crisis(
        "crisis-customer",
        {"source": "assistant", "cues": ["self_harm"], "jurisdictions": jurisdictions},
    )
    assert opened
    return str(case_id)


def test_a_crisis_case_shows_the_banner_script_and_hotlines_in_the_pages_language(
    case_app: Any,
) -> None:
    case_id = _crisis_case(case_app, ["CN"])
    analyst = sign_in(case_app.app, case_app.services, "analyst")

    zh = analyst.get(f"/console/cases/{case_id}?lang=zh-CN").text
    banner = BANNER.search(zh)
    assert banner is not None
    shown = banner.group(1)
    assert ZH["Crisis: the customer spoke of ending their life"] in shown
    assert "全国心理援助热线" in shown
    assert "12356" in shown
    assert "120" in shown  # the ambulance, an emergency number
    assert "National psychological assistance hotline" not in shown
    assert '<ol class="script">' in shown
    assert shown.count("<li>") >= 2

    en = analyst.get(f"/console/cases/{case_id}?lang=en").text
    shown = BANNER.search(en).group(1)  # type: ignore[union-attr]
    assert EN.get("Crisis: the customer spoke of ending their life", "Crisis") in shown
    assert "National psychological assistance hotline" in shown
    assert "全国心理援助热线" not in shown
    assert "Mainland China" in shown
    assert "Crisis hotline" in shown
    # the script is shown once, in the banner, not again under outreach
    assert en.count('<ol class="script">') == 1


def test_a_scam_case_has_no_crisis_banner_and_no_supported_close(case_app: Any) -> None:
    for event in r39_scam_events():
        case_app.decide(event)
    case_id = case_app.services.cases.queue(limit=1)["cases"][0]["id"]
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    page = analyst.get(f"/console/cases/{case_id}").text
    assert "crisis-banner" not in page
    assert "close-supported-form" not in page
    assert '<ol class="script">' in page


def test_a_crisis_case_closes_as_support_given_with_a_note(case_app: Any) -> None:
    case_id = _crisis_case(case_app, ["UK"])
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    page = analyst.get(f"/console/cases/{case_id}?lang=en").text
    # a new case is taken into triage first (the close is offered from there)
    assert "close-supported-form" not in page
    taken = analyst.post(
        f"/console/cases/{case_id}/transition",
        data={"csrf": analyst.csrf, "to": "triage"},
        follow_redirects=False,
    )
    assert taken.status_code == 303, taken.text
    page = analyst.get(f"/console/cases/{case_id}?lang=en").text
    form = re.search(r'<form[^>]*id="close-supported-form">(.*?)</form>', page, re.S)
    assert form is not None
    assert re.search(r'<textarea name="note"[^>]*required', form.group(1))
    assert 'name="to" value="resolved_supported"' in form.group(1)
    assert "Close: support given" in form.group(1)
    # the generic transition buttons do not offer the close without the note
    generic = re.search(r'<form[^>]*id="transition-form">(.*?)</form>', page, re.S)
    assert generic is not None
    assert "resolved_supported" not in generic.group(1)
    revision = re.search(r'name="revision" value="(\d+)"', form.group(1))
    assert revision is not None

    # without a note: refused, the page names the field
    refused = analyst.post(
        f"/console/cases/{case_id}/transition",
        data={"csrf": analyst.csrf, "to": "resolved_supported", "note": " "},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "note" in refused.text
    assert case_app.services.cases.get(case_id)["state"] != "resolved_supported"

    done = analyst.post(
        f"/console/cases/{case_id}/transition",
        data={
            "csrf": analyst.csrf,
            "to": "resolved_supported",
            "revision": revision.group(1),
            "note": "Stayed on the line; gave the Samaritans' number",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    case = case_app.services.cases.get(case_id)
    assert case["state"] == "resolved_supported"
    after = analyst.get(f"/console/cases/{case_id}?lang=zh-CN").text
    assert ZH["resolved_supported"] in after
    assert "Stayed on the line" in after
    assert "close-supported-form" not in after


def test_reason_evidence_is_labelled_in_the_pages_language(case_app: Any) -> None:
    for event in r39_scam_events():
        case_app.decide(event)
    case_id = case_app.services.cases.queue(limit=1)["cases"][0]["id"]
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    for locale in ("zh-CN", "en"):
        page = analyst.get(f"/console/cases/{case_id}?lang={locale}").text
        values = re.findall(r'<span class="value">([^<:]+):', page)
        assert values, locale
        for label in values:
            assert "_" not in label, (locale, label)
        if locale == "zh-CN":
            assert all(re.search(r"[\u4e00-\u9fff]", label) for label in values), values
            assert "金额" in values
        else:
            assert "amount" in values
