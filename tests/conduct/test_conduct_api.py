"""The conduct endpoints over HTTP on both databases: scopes, 422s naming the field, the 409
problem with the codes, preferences, flags (with the audit trail) and the policy in force."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fixtures import Api

PROBLEM = "application/problem+json"
SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
CHECK = "/v1/conduct/contacts/check"
LOG = "/v1/conduct/contacts"


def contact(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "collection",
        "channel": "call",
        "debtor_id": "debtor-1",
        "contact": "+86 138 0013 8000",
        "debt": {"id": "loan-1", "amount": 3200},
        "timezone": "Asia/Shanghai",
        "at": AT.isoformat(),
    }
    body.update(overrides)
    return body


class TestScopes:
    def test_check_needs_conduct_check(self, app_client: Api) -> None:
        ok = app_client.client.post(CHECK, json=contact(), headers=app_client.key("conduct:check"))
        assert ok.status_code == 200, ok.text
        assert ok.json()["allowed"] is True
        for scopes in [("cases:read",), ("conduct:write",), ("lending:check",)]:
            denied = app_client.client.post(CHECK, json=contact(), headers=app_client.key(*scopes))
            assert denied.status_code == 403, scopes
            assert denied.headers["content-type"] == PROBLEM
            assert "conduct:check" in denied.json()["detail"]
        assert app_client.client.post(CHECK, json=contact()).status_code == 401

    def test_writes_need_conduct_write(self, app_client: Api) -> None:
        checker = app_client.key("conduct:check")
        writes = [
            (LOG, {**contact(), "result": "unanswered"}),
            (
                "/v1/conduct/preferences",
                {"kind": "marketing", "customer_id": "c", "opted_out": True},
            ),
            ("/v1/conduct/flags", {"customer_id": "c", "flag": "collection_paused", "reason": "r"}),
        ]
        for url, body in writes:
            assert app_client.client.post(url, json=body, headers=checker).status_code == 403, url
        delete = app_client.client.delete("/v1/conduct/flags/c/collection_paused", headers=checker)
        assert delete.status_code == 403
        writer = app_client.key("conduct:write")
        logged = app_client.client.post(
            LOG, json={**contact(), "result": "unanswered"}, headers=writer
        )
        assert logged.status_code == 201, logged.text


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"purpose": None}, "purpose"),
            ({"purpose": "debt_sale"}, "purpose"),
            ({"channel": "fax"}, "channel"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"at": "2026-03-02T10:00:00"}, "at"),
            ({"target": "third_party"}, "third_party"),
            ({"channel": "sms"}, "template_text"),
            ({"debt": None}, "debt"),
            ({"third_party": {"id": "x", "relation": "friend"}}, "third_party.relation"),
            ({"jurisdiction": "FR"}, "jurisdiction"),
            ({"debtor_id": ""}, "debtor_id"),
            ({"debtr_id": "typo"}, "debtr_id"),
        ],
    )
    def test_a_422_names_the_field(
        self, app_client: Api, change: dict[str, Any], field: str
    ) -> None:
        body = {k: v for k, v in {**contact(), **change}.items() if v is not None}
        response = app_client.client.post(CHECK, json=body, headers=app_client.admin)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert field in [e["field"] for e in response.json()["errors"]]

    def test_log_needs_a_known_result(self, app_client: Api) -> None:
        response = app_client.client.post(
            LOG, json={**contact(), "result": "maybe"}, headers=app_client.admin
        )
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["result"]


class TestContacts:
    def test_log_until_the_cap_then_409_with_the_codes(self, app_client: Api) -> None:
        writer = app_client.key("conduct:write")
        for minute in range(6):
            at = (AT + timedelta(minutes=minute)).isoformat()
            body = {**contact(at=at), "result": "unanswered", "attempt_id": f"a-{minute}"}
            response = app_client.client.post(LOG, json=body, headers=writer)
            assert response.status_code == 201, response.text
            assert response.json()["contact_hash"].startswith("h1:")
            assert "contact" not in response.json()
        replay = app_client.client.post(
            LOG, json={**contact(), "result": "unanswered", "attempt_id": "a-0"}, headers=writer
        )
        assert replay.status_code == 200
        assert replay.json()["replayed"] is True
        body = {**contact(at=(AT + timedelta(hours=2)).isoformat()), "result": "unanswered"}
        refused = app_client.client.post(LOG, json=body, headers=writer)
        assert refused.status_code == 409
        assert refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert problem["title"] == "Contact refused"
        assert problem["allowed"] is False
        assert [c["code"] for c in problem["codes"]] == ["FREQ_CAP_DAILY"]
        assert problem["codes"][0]["requirement"] == "R17"
        assert problem["codes"][0]["policy"]["source"] == "CBA-2026"
        check = app_client.client.post(CHECK, json=contact(), headers=app_client.admin).json()
        assert [c["code"] for c in check["codes"]] == ["FREQ_CAP_DAILY"]
        listing = app_client.client.get(
            LOG, params={"debtor_id": "debtor-1"}, headers=app_client.key("conduct:check")
        ).json()
        assert len(listing["attempts"]) == 6
        assert app_client.rows("contact_attempts") == 6

    def test_impersonation_is_routed_to_review(self, app_client: Api) -> None:
        body = contact(channel="sms", template_text="您已被法院起诉，传票已寄出")
        answer = app_client.client.post(CHECK, json=body, headers=app_client.admin).json()
        assert answer["allowed"] is False
        assert answer["review"] is True
        assert answer["codes"][0]["code"] == "IMPERSONATION_RISK"
        assert answer["local_time"] == "2026-03-02T10:00:00+08:00"
        assert answer["checked_at"]


class TestPreferences:
    def test_marketing_choice_third_party_opt_out_and_inconvenient_times(
        self, app_client: Api
    ) -> None:
        writer = app_client.key("conduct:write")
        posts = [
            {"kind": "marketing", "customer_id": "debtor-1", "channel": "*", "opted_out": True,
             "at": (AT - timedelta(days=1)).isoformat(), "source": "app_settings"},
            {"kind": "third_party_opt_out", "debtor_id": "debtor-1", "third_party_id": "ec-1",
             "contact": "139 0000 0009", "at": AT.isoformat()},
            {"kind": "inconvenient_times", "debtor_id": "debtor-1",
             "windows": [{"start": "09:00", "end": "12:00", "note": "school run"}]},
        ]  # fmt: skip
        for body in posts:
            response = app_client.client.post("/v1/conduct/preferences", json=body, headers=writer)
            assert response.status_code == 201, response.text
        stored = app_client.client.get(
            "/v1/conduct/preferences",
            params={"customer_id": "debtor-1"},
            headers=app_client.key("conduct:check"),
        ).json()
        assert [m["opted_out"] for m in stored["marketing"]] == [True]
        assert stored["third_party_opt_outs"][0]["contact_hash"].startswith("h1:")
        assert stored["inconvenient_times"][0]["start"] == "09:00:00"
        push = {
            "purpose": "marketing",
            "channel": "push",
            "debtor_id": "debtor-1",
            "contact": "token",
            "template_text": "专属额度已到账",
            "at": AT.isoformat(),
        }
        answer = app_client.client.post(CHECK, json=push, headers=app_client.admin).json()
        assert [c["code"] for c in answer["codes"]] == ["MARKETING_OPTED_OUT"]
        answer = app_client.client.post(CHECK, json=contact(), headers=app_client.admin).json()
        assert [c["code"] for c in answer["codes"]] == ["CONSUMER_DESIGNATED_INCONVENIENT"]
        third = contact(
            at=(AT + timedelta(hours=3)).isoformat(),
            target="third_party",
            third_party={"id": "other-id", "relation": "debt_related"},
            contact="+8613900000009",
        )
        answer = app_client.client.post(CHECK, json=third, headers=app_client.admin).json()
        assert [c["code"] for c in answer["codes"]] == ["THIRD_PARTY_OPTED_OUT"]
        assert app_client.rows("audit_log") >= 3

    def test_invalid_preferences_name_the_field(self, app_client: Api) -> None:
        bad = [
            ({"kind": "marketing", "customer_id": "c", "opted_out": True, "channel": "fax"},
             "marketing.channel"),
            ({"kind": "inconvenient_times", "debtor_id": "d",
              "windows": [{"start": "09:00", "end": "09:00"}]}, "inconvenient_times.windows.0.end"),
            ({"kind": "third_party_opt_out", "debtor_id": "d"}, "third_party_id"),
            ({"kind": "favourite_colour"}, "kind"),
        ]  # fmt: skip
        for body, field in bad:
            response = app_client.client.post(
                "/v1/conduct/preferences", json=body, headers=app_client.admin
            )
            assert response.status_code == 422, body
            assert field in [e["field"] for e in response.json()["errors"]], response.json()


class TestFlags:
    def test_set_read_and_clear_a_rescue_flag(self, app_client: Api) -> None:
        writer = app_client.key("conduct:write")
        flag = {
            "customer_id": "debtor-1",
            "flag": "marketing_suppressed",
            "reason": "OVER_INDEBTED: missed 3 of the last 6 months (R30)",
            "source": "lending.rescue",
            "since": (AT - timedelta(days=1)).isoformat(),
        }
        created = app_client.client.post("/v1/conduct/flags", json=flag, headers=writer)
        assert created.status_code == 201, created.text
        offer = {
            "purpose": "marketing",
            "channel": "push",
            "debtor_id": "debtor-1",
            "contact": "token",
            "template_text": "您的额度已提升，立即借款",
            "at": AT.isoformat(),
        }
        answer = app_client.client.post(CHECK, json=offer, headers=app_client.admin).json()
        assert [c["code"] for c in answer["codes"]] == ["MARKETING_TO_DISTRESSED"]
        flags = app_client.client.get(
            "/v1/conduct/flags",
            params={"customer_id": "debtor-1"},
            headers=app_client.key("conduct:check"),
        ).json()["flags"]
        assert [(f["flag"], f["active"]) for f in flags] == [("marketing_suppressed", True)]
        cleared = app_client.client.delete(
            "/v1/conduct/flags/debtor-1/marketing_suppressed", headers=writer
        )
        assert cleared.status_code == 200
        assert cleared.json()["cleared"] == 1
        again = app_client.client.delete(
            "/v1/conduct/flags/debtor-1/marketing_suppressed", headers=writer
        )
        assert again.status_code == 404
        now_offer = {**offer, "at": None}
        now_offer.pop("at")
        answer = app_client.client.post(CHECK, json=now_offer, headers=app_client.admin).json()
        assert answer["allowed"] is True
        actions = [
            e["action"]
            for e in app_client.client.get("/v1/audit", headers=app_client.admin).json()["entries"]
        ]
        assert "conduct.flag_set" in actions
        assert "conduct.flag_cleared" in actions

    def test_a_bad_flag_names_the_field(self, app_client: Api) -> None:
        body = {"customer_id": "c", "flag": "hold_everything", "reason": "r"}
        response = app_client.client.post("/v1/conduct/flags", json=body, headers=app_client.admin)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["flag"]


def test_the_policy_in_force_with_its_sources(app_client: Api) -> None:
    reader = app_client.key("conduct:check")
    now = app_client.client.get("/v1/conduct/policies/cn?on=2026-03-02", headers=reader).json()
    assert now["version"] == "2026.1"
    assert now["values"]["quiet_hours"]["source"] == "CBA-2026"
    assert now["values"]["quiet_hours"]["confidence"] == "S"
    before = app_client.client.get("/v1/conduct/policies/CN?on=2025-06-01", headers=reader).json()
    assert before["version"] == "pre-2026"
    missing = app_client.client.get("/v1/conduct/policies/US?on=2020-01-01", headers=reader)
    assert missing.status_code == 404  # no version in force that day: nothing to answer with
    assert [e["field"] for e in missing.json()["errors"]] == ["on"]
    assert app_client.client.get("/v1/conduct/policies/FR", headers=reader).status_code == 404
