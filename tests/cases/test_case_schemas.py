"""The cases area's typed contract against the service it describes: the response models name
every key the service returns (a key a model lacks would be dropped from the JSON without a
word), the request patterns refuse exactly what the service refuses, and a body is refused
(naming the field) before the service sees it."""

from __future__ import annotations

import re
import unicodedata
from typing import get_args

import pytest
from pydantic import ValidationError

from fixtures import Api, r39_scam_events
from lendguard.auth.schemas import UserCreate
from lendguard.auth.service import Role
from lendguard.cases.schemas import (
    INVISIBLE,
    CaseDetail,
    CaseSummary,
    ListEntryBody,
    NoteBody,
    OutreachBody,
    SuppressionBody,
)
from lendguard.cases.service import OUTREACH_OUTCOMES, _blank
from lendguard.decisions.policy import LIST_FIELDS

PROBLEM = "application/problem+json"


def _scam_case_id(api: Api) -> str:
    for event in r39_scam_events("schema-21"):
        assert api.client.post("/v1/events", json=event, headers=api.admin).status_code == 200
    [case] = api.services.cases.queue()["cases"]
    return str(case["id"])


def test_the_invisible_class_is_what_the_case_service_calls_blank() -> None:
    """The note pattern lists the characters of the Basic Multilingual Plane that ``_blank``
    treats as nothing, for the Unicode version of the running Python (a new Python may add
    format characters: update INVISIBLE)."""
    everything = "".join(chr(c) for c in range(0x10000))
    in_class = set(re.findall(f"[{INVISIBLE}]", everything))
    blank = {c for c in everything if _blank(c)}
    assert in_class == blank, f"Unicode {unicodedata.unidata_version}: {in_class ^ blank}"


def test_a_note_of_format_characters_beyond_the_bmp_is_still_refused(case_app: Api) -> None:
    """The pattern leaves them out (see INVISIBLE); the service refuses them all the same."""
    case_id = _scam_case_id(case_app)
    tags = "\U000e0001\U000e0020"
    assert _blank(tags)
    refused = case_app.client.post(
        f"/v1/cases/{case_id}/notes", json={"text": tags}, headers=case_app.admin
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["text"]


@pytest.mark.parametrize("text", ["\u200b\u200b", "   ", "\u2060\n\t", "\u00ad"])
def test_a_note_nobody_can_read_is_refused_by_the_model(text: str) -> None:
    assert _blank(text)
    with pytest.raises(ValidationError):
        NoteBody(text=text)


@pytest.mark.parametrize("text", ["called her", "已回电", " x ", "\u200bok"])
def test_a_note_with_something_to_read_is_accepted(text: str) -> None:
    assert NoteBody(text=text).text == text


def test_a_blank_snooze_field_is_refused_by_the_model_as_by_strip() -> None:
    with pytest.raises(ValidationError) as info:
        SuppressionBody.model_validate(
            {
                "customer_id": " \u3000",
                "rule_id": "r",
                "until": "2099-01-01T00:00:00+00:00",
                "reason": "x",
            }
        )
    assert [e["loc"] for e in info.value.errors()] == [("customer_id",)]


@pytest.mark.parametrize(
    ("username", "accepted"),
    [("li.wei_2", True), ("张伟", True), ("---", False), ("a b", False), ("a\u0301", False)],
)
def test_a_username_is_accepted_exactly_as_the_user_service_accepts_it(
    username: str, accepted: bool
) -> None:
    service_accepts = username.replace("-", "").replace("_", "").replace(".", "").isalnum()
    assert service_accepts is accepted
    body = {"username": username, "password": "long enough pw", "role": "analyst"}
    if accepted:
        assert UserCreate.model_validate(body).username == username
    else:
        with pytest.raises(ValidationError):
            UserCreate.model_validate(body)


def test_the_case_models_name_every_key_the_service_returns(case_app: Api) -> None:
    case_id = _scam_case_id(case_app)
    crisis_id, _ = case_app.services.cases.open_crisis(
        "crisis-7", {"source": "test", "cues": ["ending_life"], "jurisdictions": ["CN"]}
    )
    detail_fields = set(CaseDetail.model_fields)
    for wanted in (case_id, crisis_id):
        served = case_app.services.cases.get(wanted)
        assert set(served) <= detail_fields
        answered = case_app.client.get(f"/v1/cases/{wanted}", headers=case_app.admin).json()
        # Nothing dropped, nothing added (a non-crisis case has no hotlines key, as before).
        assert set(answered) == set(served)
        assert [set(d) for d in answered["decisions"]] == [set(d) for d in served["decisions"]]
    assert "hotlines" not in case_app.services.cases.get(case_id)
    crisis = case_app.client.get(f"/v1/cases/{crisis_id}", headers=case_app.admin).json()
    assert {h["jurisdiction"] for h in crisis["hotlines"]} == {"CN"}
    page = case_app.client.get("/v1/cases", headers=case_app.admin).json()
    assert page["total"] == 2
    assert [set(c) for c in page["cases"]] == [set(CaseSummary.model_fields)] * 2
    assert page["cases"][0]["id"] == crisis_id  # a crisis case is worked first


def test_an_unknown_state_or_a_misspelt_field_is_a_422_naming_it(case_app: Api) -> None:
    case_id = _scam_case_id(case_app)
    url = f"/v1/cases/{case_id}/transition"
    unknown = case_app.client.post(url, json={"to": "closed"}, headers=case_app.admin)
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == PROBLEM
    assert [e["field"] for e in unknown.json()["errors"]] == ["to"]
    # "notes" is the outreach field; a transition's reason is "note".
    misspelt = case_app.client.post(
        url, json={"to": "triage", "notes": "called her"}, headers=case_app.admin
    )
    assert misspelt.status_code == 422
    assert [e["field"] for e in misspelt.json()["errors"]] == ["notes"]
    assert case_app.services.cases.get(case_id)["state"] == "new"
    queue = case_app.client.get("/v1/cases?state=nowhere", headers=case_app.admin)
    assert queue.status_code == 422
    assert queue.json()["errors"][0]["field"].endswith("state.0")


def test_the_enumerations_are_the_services_own() -> None:
    """The models spell out what the services accept; a value added to one and not the other
    would be refused by the contract or accepted and then refused by the service."""
    assert set(get_args(ListEntryBody.model_fields["field"].annotation)) == set(LIST_FIELDS)
    assert set(get_args(OutreachBody.model_fields["outcome"].annotation)) == set(OUTREACH_OUTCOMES)
    assert set(get_args(UserCreate.model_fields["role"].annotation)) == {r.value for r in Role}
