"""Education rides on the decisions it answers (issue #21 item 2): an intervention carries up to
two content items chosen by its reasons, in the answer to POST /v1/events and on every read of
the stored decision; an allow carries none."""

from __future__ import annotations

from markupsafe import escape

from fixtures import ADMIN_KEY, Api, r39_scam_events, sign_in
from lendguard.education.library import education_for

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_an_intervention_carries_the_content_its_reasons_call_for(app_client: Api) -> None:
    first, scam = r39_scam_events()
    allowed = app_client.client.post("/v1/events", json=first, headers=AUTH).json()
    assert allowed["action"] == "allow"
    assert allowed["education"] == []

    answer = app_client.client.post("/v1/events", json=scam, headers=AUTH).json()
    assert answer["action"] == "intercept"
    expected = [link.model_dump() for link in education_for(answer["reasons"])]
    assert expected, "the library answers the reasons of the R39 scam"
    assert answer["education"] == expected
    assert all(link["title"]["zh-CN"] and link["title"]["en"] for link in expected)

    stored = app_client.client.get(f"/v1/decisions/{answer['decision_id']}", headers=AUTH)
    assert stored.status_code == 200
    assert stored.json()["education"] == expected
    listed = app_client.client.get(
        f"/v1/customers/{scam['customer_id']}/decisions", headers=AUTH
    ).json()
    by_id = {d["decision_id"]: d for d in listed["decisions"]}
    assert by_id[answer["decision_id"]]["education"] == expected
    assert by_id[allowed["decision_id"]]["education"] == []

    for link in expected:
        content = app_client.client.get(link["url"], headers=AUTH)
        assert content.status_code == 200
        assert content.json()["id"] == link["content_id"]


def test_a_case_lists_the_content_for_its_outreach(case_app: Api) -> None:
    for event in r39_scam_events():
        assert case_app.client.post("/v1/events", json=event, headers=AUTH).status_code == 200
    queue = case_app.client.get("/v1/cases", headers=AUTH).json()
    case_id = queue["cases"][0]["id"]
    case = case_app.client.get(f"/v1/cases/{case_id}", headers=AUTH).json()
    reasons = [r for d in case["decisions"] for r in d["reasons"]]
    expected = [link.model_dump() for link in education_for(reasons, case.get("scam_type"))]
    assert expected
    assert case["education"] == expected
    # The same content as the education area's own answer for the case.
    answer = case_app.client.get(f"/v1/education/for-case/{case_id}", headers=AUTH).json()
    assert [link["content_id"] for link in answer["links"]] == [
        link["content_id"] for link in expected
    ]
    analyst = sign_in(case_app.app, case_app.services, "analyst")
    page = analyst.get(f"/console/cases/{case_id}").text
    assert 'id="case-education"' in page
    assert escape(expected[0]["title"]["en"]) in page
