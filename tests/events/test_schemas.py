"""The public event contract: what parses, what is kept, what is refused (and where)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from fixtures import MISSING, make_event
from lendguard.events.schemas import Event, EventBatch, EventType

CONTRACT_EXAMPLE: dict[str, Any] = {
    "event_id": "evt_20250303_000123",
    "type": "transfer",
    "occurred_at": "2025-03-03T14:12:00+08:00",
    "customer_id": "c_102938",
    "amount": "19000.00",
    "currency": "CNY",
    "channel": "app",
    "device_id": "d_ab12",
    "ip": "203.0.113.7",
    "payee_id": "p_77",
    "payer_id": None,
    "phone": "h_5f1c",
    "card_id": "card_9",
    "address_id": "addr_3",
    "balance_before": "20150.50",
    "session": {
        "call_active": False,
        "screen_share_active": True,
        "remote_control_app": False,
        "screen_recording_active": False,
    },
    "customer": {"birth_date": "2003-11-22", "is_student": True, "vulnerable": False},
    "attributes": {"purpose": "tuition"},
}


def _error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


class TestValidEvents:
    def test_contract_example_parses_with_every_field(self) -> None:
        event = Event.model_validate(CONTRACT_EXAMPLE)

        assert event.type is EventType.transfer
        assert event.amount == Decimal("19000.00")
        assert event.balance_before == Decimal("20150.50")
        assert event.occurred_at == datetime(2025, 3, 3, 6, 12, tzinfo=UTC)
        assert event.session.screen_share_active is True
        assert event.customer is not None
        assert event.customer.birth_date == date(2003, 11, 22)
        assert event.customer.is_student is True
        assert event.attributes == {"purpose": "tuition"}

    def test_builder_default_is_valid(self) -> None:
        event = Event.model_validate(make_event())
        assert event.customer_id == "cust-1"

    @pytest.mark.parametrize("event_type", [t.value for t in EventType])
    def test_every_event_type_is_accepted(self, event_type: str) -> None:
        assert Event.model_validate(make_event(type=event_type)).type.value == event_type

    @pytest.mark.parametrize(
        ("amount", "expected"),
        [("19000.5", Decimal("19000.5")), (19000, Decimal("19000")), ("0", Decimal("0"))],
    )
    def test_amount_as_string_or_number(self, amount: Any, expected: Decimal) -> None:
        assert Event.model_validate(make_event(amount=amount)).amount == expected

    def test_event_without_money_needs_no_currency(self) -> None:
        event = Event.model_validate(
            make_event(type="login", amount=MISSING, currency=MISSING, payee_id=MISSING)
        )
        assert event.amount is None
        assert event.currency is None


class TestUnknownFieldsAreKept:
    def test_unknown_top_level_fields_move_to_attributes(self) -> None:
        raw = make_event(loan_purpose="tuition", app_version="5.2.1", risk={"x": 1})
        event = Event.model_validate(raw)
        assert event.attributes == {
            "loan_purpose": "tuition",
            "app_version": "5.2.1",
            "risk": {"x": 1},
        }
        assert "loan_purpose" not in event.model_dump()

    def test_unknown_fields_merge_with_given_attributes(self) -> None:
        raw = make_event(attributes={"purpose": "rent"}, merchant_category="5411")
        event = Event.model_validate(raw)
        assert event.attributes == {"purpose": "rent", "merchant_category": "5411"}

    def test_unknown_fields_survive_a_json_round_trip(self) -> None:
        event = Event.model_validate(make_event(campaign="spring"))
        again = Event.model_validate(event.model_dump(mode="json"))
        assert again.attributes["campaign"] == "spring"

    def test_unknown_field_clashing_with_an_attribute_is_not_silently_dropped(self) -> None:
        """``"x"`` sent both at the top level and inside ``attributes``: both values must
        survive, or the event must be refused naming the field. Losing one is data loss."""
        raw = make_event(attributes={"channel_detail": "from-attributes"})
        raw["channel_detail"] = "from-top-level"
        refused: ValidationError | None = None
        try:
            event = Event.model_validate(raw)
        except ValidationError as exc:
            refused = exc
        if refused is not None:
            assert any("channel_detail" in f for f in _error_fields(refused))
        else:
            kept = repr(event.attributes)
            assert "from-attributes" in kept
            assert "from-top-level" in kept


class TestRefusals:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            pytest.param({"customer_id": MISSING}, "customer_id", id="missing-customer_id"),
            pytest.param({"customer_id": ""}, "customer_id", id="empty-customer_id"),
            pytest.param({"event_id": MISSING}, "event_id", id="missing-event_id"),
            pytest.param({"occurred_at": MISSING}, "occurred_at", id="missing-occurred_at"),
            pytest.param({"amount": "-1"}, "amount", id="negative-amount"),
            pytest.param({"amount": -0.01}, "amount", id="negative-amount-number"),
            pytest.param({"type": "teleport"}, "type", id="unknown-type"),
            pytest.param({"amount": "abc"}, "amount", id="amount-abc"),
            pytest.param({"amount": True}, "amount", id="boolean-amount"),
            pytest.param({"balance_before": False}, "balance_before", id="boolean-balance"),
            pytest.param(
                {"occurred_at": "2025-03-03T14:00:00"}, "occurred_at", id="naive-timestamp"
            ),
            pytest.param({"occurred_at": "yesterday"}, "occurred_at", id="bad-timestamp"),
            pytest.param({"currency": MISSING}, "currency", id="amount-without-currency"),
            pytest.param({"currency": "cny"}, "currency", id="lowercase-currency"),
            pytest.param({"amount": "1.23456"}, "amount", id="too-many-decimals"),
            pytest.param(
                {"session": {"call_active": True, "telepathy": True}},
                "session.telepathy",
                id="unknown-session-signal",
            ),
            pytest.param({"customer_id": "x" * 129}, "customer_id", id="customer_id-too-long"),
        ],
    )
    def test_bad_input_is_refused_naming_the_field(
        self, overrides: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            Event.model_validate(make_event(**overrides))
        assert field in _error_fields(caught.value)

    def test_batch_over_1000_items_is_refused(self) -> None:
        with pytest.raises(ValidationError) as caught:
            EventBatch.model_validate({"events": [make_event() for _ in range(1001)]})
        assert "events" in _error_fields(caught.value)

    def test_batch_of_1000_is_accepted(self) -> None:
        batch = EventBatch.model_validate({"events": [{}] * 1000})
        assert len(batch.events) == 1000
