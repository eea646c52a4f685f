"""Money lock and kill switch (issue #19, item 3), over HTTP on a real database with the clock
pinned: a locked customer's outflows and new credit are blocked with a message in both
languages, a repayment never is; the kill switch suspends devices new since the lock; an
unlock needs a verification the policy accepts, is a compare-and-set on the lock's revision, and
a cooling-off unlock keeps blocking until its time; another process sees the lock after its
configuration reload. Bad input is a 422 naming the field and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fixtures import MISSING, PINNED_NOW, Api, make_event, reason_codes
from lendguard.decisions.engine import GENERIC_MESSAGES
from lendguard.decisions.explain import REASON_TEXT
from lendguard.decisions.rules.lint import text_problems
from lendguard.decisions.service import DecisionService
from lendguard.errors import ValidationFailed
from lendguard.events.parse import parse_event
from lendguard.interventions.lock_service import LockService
from lendguard.models import AuditEntry

PROBLEM = "application/problem+json"
CUSTOMER = "lock-1"


def at(minutes: float) -> datetime:
    """An event time, minutes after the pinned wall clock (the lock is made at about 0)."""
    return PINNED_NOW + timedelta(minutes=minutes)


def history(api: Api, customer: str = CUSTOMER) -> None:
    """A day ago: the customer's own device (dev-1) and payee, before any lock."""
    api.decide(
        make_event(customer_id=customer, type="login", occurred_at=at(-1440), payee_id=MISSING)
    )
    api.decide(make_event(customer_id=customer, occurred_at=at(-1430)))


def lock(api: Api, customer: str = CUSTOMER, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        f"/v1/customers/{customer}/lock", json={"channel": "app", **body}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def unlock(api: Api, body: dict[str, Any], customer: str = CUSTOMER) -> Any:
    return api.client.post(f"/v1/customers/{customer}/unlock", json=body, headers=api.admin)


def audit_actions(api: Api) -> list[str]:
    with api.services.decisions.db.connect() as conn:
        rows = conn.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
        return [a for a in rows if a.startswith("locks.")]


def lock_rows(api: Api) -> tuple[int, int]:
    return api.rows("customer_locks"), api.rows("customer_lock_events")


VIDEO = {"method": "video", "reference": "vc-2026-0001", "verified_by": "agent-7"}


class TestLocked:
    def test_outflows_and_new_credit_are_blocked_with_the_customers_message(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        history(app_client)
        view = lock(app_client, note="customer called: a 'police officer' asked for money")
        assert (view["state"], view["kill_switch"], view["revision"]) == ("locked", False, 1)
        assert view["channel"] == "app"
        assert view["unlock_effective_at"] is None
        assert [s["kind"] for s in view["history"]] == ["locked"]
        assert audit_actions(app_client) == ["locks.locked"]

        blocked = [
            make_event(customer_id=CUSTOMER, occurred_at=at(1)),
            make_event(customer_id=CUSTOMER, occurred_at=at(2), type="withdrawal"),
            make_event(customer_id=CUSTOMER, occurred_at=at(3), type="payment"),
            make_event(customer_id=CUSTOMER, occurred_at=at(4), type="application"),
            make_event(customer_id=CUSTOMER, occurred_at=at(5), type="disbursement"),
            make_event(
                customer_id=CUSTOMER,
                occurred_at=at(6),
                type="limit_change",
                amount="50000",
                payee_id=MISSING,
                attributes={"direction": "increase"},
            ),
        ]
        for event in blocked:
            decision = app_client.decide(event)
            assert decision["action"] == "block", (event["type"], decision)
            assert decision["reasons"][0]["code"] == "MONEY_LOCKED"
            assert decision["reasons"][0]["category"] == "fraud"
            assert decision["measures"] == ["SUSPEND"]
            assert decision["messages"] == [
                {"locale": loc, "text": GENERIC_MESSAGES["MONEY_LOCKED"][loc]}
                for loc in ("zh-CN", "en")
            ]
        assert "You locked your money" in GENERIC_MESSAGES["MONEY_LOCKED"]["en"]
        assert "资金锁" in GENERIC_MESSAGES["MONEY_LOCKED"]["zh-CN"]

        # What moves no money out is not the lock's business; a repayment never is held.
        for event in (
            make_event(customer_id=CUSTOMER, occurred_at=at(7), type="repayment", payee_id=MISSING),
            make_event(customer_id=CUSTOMER, occurred_at=at(8), type="deposit", payee_id=MISSING),
            make_event(customer_id=CUSTOMER, occurred_at=at(9), type="login", payee_id=MISSING),
            make_event(
                customer_id=CUSTOMER,
                occurred_at=at(10),
                type="limit_change",
                amount="1000",
                payee_id=MISSING,
                attributes={"direction": "decrease"},
            ),
        ):
            decision = app_client.decide(event)
            assert decision["action"] in ("allow", "remind"), (event["type"], decision)
            assert "MONEY_LOCKED" not in reason_codes(decision)

    def test_the_customers_texts_pass_the_lint_in_both_languages(self) -> None:
        for code in ("MONEY_LOCKED", "SESSION_SUSPENDED", "TRUSTED_CONFIRMATION_REQUIRED"):
            for locale in ("zh-CN", "en"):
                assert not text_problems(GENERIC_MESSAGES[code][locale], locale)
                assert not text_problems(REASON_TEXT[code][locale], locale)

    def test_locking_again_changes_nothing_unless_it_adds_the_kill_switch(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        first = lock(app_client)
        again = lock(app_client, channel="agent")
        assert again == first
        assert lock_rows(app_client) == (1, 1)
        stronger = lock(app_client, kill_switch=True)
        assert (stronger["kill_switch"], stronger["revision"]) == (True, 2)
        assert [s["kind"] for s in stronger["history"]] == ["locked", "kill_switch_on"]
        assert audit_actions(app_client) == ["locks.locked", "locks.kill_switch_on"]
        read = app_client.client.get(f"/v1/customers/{CUSTOMER}/lock", headers=app_client.admin)
        assert read.status_code == 200
        assert read.json() == stronger

    def test_an_id_holding_personal_information_is_locked_as_the_events_carry_it(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        phone = "13812345678"
        decision = app_client.decide(make_event(customer_id=phone, occurred_at=at(-60)))
        assert decision["customer_id"] != phone  # stored as its pseudonym
        view = lock(app_client, customer=phone)
        assert view["customer_id"] == phone
        with app_client.services.decisions.db.connect() as conn:
            from lendguard.models.interventions import CustomerLock

            stored = conn.execute(select(CustomerLock.customer_id)).scalar_one()
        assert stored == decision["customer_id"]
        blocked = app_client.decide(make_event(customer_id=phone, occurred_at=at(1)))
        assert reason_codes(blocked) == {"MONEY_LOCKED"}


class TestKillSwitch:
    def test_a_device_new_since_the_lock_is_suspended_a_known_one_is_not(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        history(app_client)
        lock(app_client, kill_switch=True)
        login = {"customer_id": CUSTOMER, "type": "login", "payee_id": MISSING}
        for minute in (1, 2):  # the second try finds the device seen, yet new since the lock
            decision = app_client.decide(
                make_event(**login, device_id="dev-new", occurred_at=at(minute))
            )
            assert decision["action"] == "block"
            assert reason_codes(decision) == {"SESSION_SUSPENDED"}
            assert decision["messages"][1] == {
                "locale": "en",
                "text": GENERIC_MESSAGES["SESSION_SUSPENDED"]["en"],
            }
        known = app_client.decide(make_event(**login, device_id="dev-1", occurred_at=at(3)))
        assert known["action"] == "allow"
        assert "SESSION_SUSPENDED" not in reason_codes(known)
        # A transfer from the new device: both reasons, the session first.
        transfer = app_client.decide(
            make_event(customer_id=CUSTOMER, device_id="dev-new", occurred_at=at(4))
        )
        assert [r["code"] for r in transfer["reasons"]] == ["SESSION_SUSPENDED", "MONEY_LOCKED"]
        # A repayment is never held, even from a new device.
        repayment = app_client.decide(
            make_event(
                customer_id=CUSTOMER,
                type="repayment",
                device_id="dev-new",
                payee_id=MISSING,
                occurred_at=at(5),
            )
        )
        assert repayment["action"] == "remind"
        assert [g["code"] for g in repayment["guardrails"]] == ["REPAYMENT_NEVER_BLOCKED"]

    def test_without_the_kill_switch_a_new_device_is_only_the_rules_business(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        history(app_client)
        lock(app_client)
        decision = app_client.decide(
            make_event(customer_id=CUSTOMER, type="login", device_id="dev-new", payee_id=MISSING)
        )
        assert "SESSION_SUSPENDED" not in reason_codes(decision)


class TestUnlock:
    def test_a_video_unlock_lets_the_next_transfer_through(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        history(app_client)
        view = lock(app_client, kill_switch=True)
        response = unlock(app_client, {**VIDEO, "revision": view["revision"]})
        assert response.status_code == 200, response.text
        after = response.json()
        assert (after["state"], after["kill_switch"], after["revision"]) == ("unlocked", False, 2)
        assert after["unlock_method"] == "video"
        assert after["history"][-1]["detail"]["reference"] == "vc-2026-0001"
        assert after["history"][-1]["detail"]["verified_by"] == "agent-7"
        decision = app_client.decide(make_event(customer_id=CUSTOMER, occurred_at=at(1)))
        assert decision["action"] == "allow", decision
        new_device = app_client.decide(
            make_event(customer_id=CUSTOMER, type="login", device_id="dev-new", occurred_at=at(2))
        )
        assert "SESSION_SUSPENDED" not in reason_codes(new_device)
        assert audit_actions(app_client) == ["locks.locked", "locks.unlocked"]
        # Nothing left to unlock.
        again = unlock(app_client, {**VIDEO, "revision": 2})
        assert again.status_code == 409
        assert again.headers["content-type"] == PROBLEM

    def test_a_cooling_off_unlock_keeps_blocking_until_its_time(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        history(app_client)
        view = lock(app_client)
        response = unlock(app_client, {"method": "cooling_off", "revision": view["revision"]})
        assert response.status_code == 200, response.text
        pending = response.json()
        assert pending["state"] == "unlock_pending"
        effective = datetime.fromisoformat(pending["unlock_effective_at"])
        assert timedelta(hours=24) <= effective - PINNED_NOW < timedelta(hours=24, minutes=1)
        assert [s["kind"] for s in pending["history"]] == ["locked", "unlock_requested"]
        # A second cooling-off while one runs is refused; the lock still blocks.
        twice = unlock(app_client, {"method": "cooling_off", "revision": pending["revision"]})
        assert twice.status_code == 409, twice.text
        assert reason_codes(
            app_client.decide(make_event(customer_id=CUSTOMER, occurred_at=at(60)))
        ) == {"MONEY_LOCKED"}
        # After the cooling-off: unlocked with no further call (the event's time decides).
        pinned_clock.shift(timedelta(hours=25))
        later = app_client.decide(make_event(customer_id=CUSTOMER, occurred_at=at(25 * 60)))
        assert "MONEY_LOCKED" not in reason_codes(later)
        assert later["action"] != "block"
        read = app_client.client.get(f"/v1/customers/{CUSTOMER}/lock", headers=app_client.admin)
        assert read.json()["state"] == "unlocked"

    def test_locking_during_a_cooling_off_cancels_it(
        self, pinned_clock: Any, app_client: Api
    ) -> None:
        view = lock(app_client)
        pending = unlock(app_client, {"method": "cooling_off", "revision": view["revision"]})
        assert pending.status_code == 200
        relocked = lock(app_client)
        assert (relocked["state"], relocked["revision"]) == ("locked", 3)
        assert relocked["unlock_effective_at"] is None
        assert relocked["history"][-1]["kind"] == "relocked"
        pinned_clock.shift(timedelta(hours=25))
        blocked = app_client.decide(make_event(customer_id=CUSTOMER, occurred_at=at(25 * 60)))
        assert reason_codes(blocked) == {"MONEY_LOCKED"}

    def test_a_stale_revision_is_refused_with_409(self, pinned_clock: Any, app_client: Api) -> None:
        lock(app_client)
        lock(app_client, kill_switch=True)  # revision 2
        stale = unlock(app_client, {**VIDEO, "revision": 1})
        assert stale.status_code == 409
        assert stale.headers["content-type"] == PROBLEM
        assert stale.json()["errors"] == [{"field": "revision", "message": "current is 2"}]
        read = app_client.client.get(f"/v1/customers/{CUSTOMER}/lock", headers=app_client.admin)
        assert (read.json()["state"], read.json()["revision"]) == ("locked", 2)

    def test_unlocking_a_customer_who_never_locked_is_409_and_reading_is_404(
        self, app_client: Api
    ) -> None:
        response = unlock(app_client, {**VIDEO, "revision": 1}, customer="never")
        assert response.status_code == 409
        assert response.json()["errors"][0]["field"] == "customer_id"
        read = app_client.client.get("/v1/customers/never/lock", headers=app_client.admin)
        assert read.status_code == 404
        assert lock_rows(app_client) == (0, 0)

    def test_the_policy_decides_which_methods_unlock(
        self, tmp_path: Path, pinned_clock: Any, app_client: Api
    ) -> None:
        shipped = Path(__file__).resolve().parents[2] / (
            "src/lendguard/interventions/policies/locks.yaml"
        )
        text = shipped.read_text(encoding="utf-8").replace(
            "value: [in_person, video, cooling_off]", "value: [in_person]"
        )
        (tmp_path / "interventions").mkdir()
        (tmp_path / "interventions" / "locks.yaml").write_text(text, encoding="utf-8")
        service = LockService(app_client.services.decisions, policy_directory=str(tmp_path))
        view = service.lock(CUSTOMER, "agent", False, "key:test")
        with pytest.raises(ValidationFailed) as refused:
            service.unlock(CUSTOMER, "video", view["revision"], "key:test", "vc-1", "agent-7")
        assert [e.field for e in refused.value.errors] == ["method"]
        done = service.unlock(CUSTOMER, "in_person", view["revision"], "key:test", "b-9", "a-1")
        assert done["state"] == "unlocked"


class TestRefusals:
    @pytest.mark.parametrize(
        ("path", "body", "fields"),
        [
            ("lock", {"channel": "sms"}, ["channel"]),
            ("lock", {}, ["channel"]),
            ("lock", {"channel": "app", "kill_switch": "yes"}, ["kill_switch"]),
            ("lock", {"channel": "app", "note": "call\u0000me"}, ["note"]),
            ("lock", {"channel": "app", "note": "   "}, ["note"]),
            ("lock", {"channel": "app", "kill": True}, ["kill"]),
            ("unlock", {"method": "phone", "revision": 1}, ["method"]),
            ("unlock", {"method": "video", "revision": 1}, ["reference", "verified_by"]),
            (
                "unlock",
                {"method": "in_person", "reference": "b-1", "revision": 1},
                ["verified_by"],
            ),
            ("unlock", {"method": "cooling_off"}, ["revision"]),
            ("unlock", {"method": "cooling_off", "revision": 0}, ["revision"]),
            ("unlock", {**VIDEO, "reference": "vc\u00001", "revision": 1}, ["reference"]),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_leaves_nothing_behind(
        self,
        pinned_clock: Any,
        app_client: Api,
        path: str,
        body: dict[str, Any],
        fields: list[str],
    ) -> None:
        if path == "unlock":
            lock(app_client)
        before = (lock_rows(app_client), audit_actions(app_client))
        response = app_client.client.post(
            f"/v1/customers/{CUSTOMER}/{path}", json=body, headers=app_client.admin
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert sorted(e["field"] for e in response.json()["errors"]) == fields
        assert (lock_rows(app_client), audit_actions(app_client)) == before

    def test_a_customer_id_over_128_characters_is_422(self, app_client: Api) -> None:
        response = app_client.client.post(
            f"/v1/customers/{'x' * 129}/lock", json={"channel": "app"}, headers=app_client.admin
        )
        assert response.status_code == 422
        assert lock_rows(app_client) == (0, 0)

    def test_every_route_needs_the_locks_scope(self, app_client: Api) -> None:
        reader = app_client.key("decisions:read", "cases:write")
        writer = app_client.key("locks:write")
        for method, path, body in (
            ("POST", "lock", {"channel": "app"}),
            ("POST", "unlock", {**VIDEO, "revision": 1}),
            ("GET", "lock", None),
        ):
            url = f"/v1/customers/{CUSTOMER}/{path}"
            assert app_client.client.request(method, url, json=body).status_code == 401
            refused = app_client.client.request(method, url, json=body, headers=reader)
            assert refused.status_code == 403, (method, path)
        assert lock_rows(app_client) == (0, 0)
        allowed = app_client.client.post(
            f"/v1/customers/{CUSTOMER}/lock", json={"channel": "agent"}, headers=writer
        )
        assert allowed.status_code == 200


def test_another_process_sees_the_lock_after_its_configuration_reload(
    sqlite_url: str,
    pinned_clock: Any,
    service_factory: Callable[..., DecisionService],
) -> None:
    """Two services on one database with shared state, as two processes: the lock made through
    one reaches the other's engine through the audited-change reload."""
    first = service_factory(sqlite_url, shared=True)
    second = service_factory(sqlite_url, shared=True)

    def decide(service: DecisionService, minute: int) -> dict[str, Any]:
        event = make_event(event_id=f"x-{minute}", customer_id=CUSTOMER, occurred_at=at(minute))
        return service.decide(parse_event(event))

    assert decide(second, -10)["action"] == "allow"
    LockService(first).lock(CUSTOMER, "agent", False, "key:agent")
    assert reason_codes(decide(first, 1)) == {"MONEY_LOCKED"}
    second._configuration_checked = 0.0  # (it looks once a second; no waiting in a test)
    assert reason_codes(decide(second, 2)) == {"MONEY_LOCKED"}
    with second.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() >= 1
