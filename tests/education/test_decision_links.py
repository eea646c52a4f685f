"""Education rides on the decisions it answers (issue #21 item 2): an intervention carries up to
two content items chosen by its reasons, in the answer to POST /v1/events and on every read of
the stored decision; an allow carries none."""

from __future__ import annotations

from fixtures import ADMIN_KEY, Api, r39_scam_events
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
