"""The public event contract: what parses, what is kept, what is refused (and where)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from fixtures import MISSING, Api, make_event
from lendguard.errors import ValidationFailed
from lendguard.events.parse import parse_event
from lendguard.events.schemas import Event, EventBatch, EventType, SessionSignals
from lendguard.kit.validation import validated

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
        with pytest.raises(ValidationFailed) as refused:
            parse_event(raw)
        assert [(e.field, e.message) for e in refused.value.errors] == [
            ("channel_detail", "sent both at the top level and in attributes with different values")
        ]

    def test_an_unknown_field_inside_an_object_is_called_unknown(self) -> None:
        with pytest.raises(ValidationFailed) as refused:
            parse_event(make_event(session={"call_active": True, "telepathy": True}))
        assert [(e.field, e.message) for e in refused.value.errors] == [
            ("session.telepathy", "is not a known field (send custom data in attributes)")
        ]

    def test_an_unknown_field_of_another_request_is_called_unknown(self) -> None:
        """Every area's request bodies share the messages: no mention of attributes where a
        request has none."""
        with pytest.raises(ValidationFailed) as refused:
            validated(SessionSignals, {"telepathy": True}, "bad session")
        assert [(e.field, e.message) for e in refused.value.errors] == [
            ("telepathy", "is not a known field")
        ]


class TestMoney:
    """One reading of money: a decimal string or a JSON number, spelt one way once parsed."""

    @pytest.mark.parametrize(
        "amount", ["19000.00", "19000", 19000, 19000.0, "19000.000", " 19000.00", "1.9E+4"]
    )
    def test_spellings_of_an_amount_are_one_content(self, amount: Any) -> None:
        event = Event.model_validate(make_event(amount=amount))
        assert event.model_dump(mode="json")["amount"] == "19000.00"

    @pytest.mark.parametrize(
        ("amount", "kept"),
        [("0.125", "0.125"), (0.1, "0.10"), ("0", "0.00"), ("-0", "0.00"), ("12.3456", "12.3456")],
    )
    def test_decimals_beyond_two_are_kept(self, amount: Any, kept: str) -> None:
        assert (
            Event.model_validate(make_event(amount=amount)).model_dump(mode="json")["amount"]
            == kept
        )

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            ("NaN", "finite"),
            ("Infinity", "finite"),
            (float("inf"), "finite"),
            (True, "not true or false"),
            ("19,000", "decimal number"),
            ("1e13", "less than or equal"),
        ],
    )
    def test_what_is_not_money_is_refused(self, amount: Any, message: str) -> None:
        with pytest.raises(ValidationFailed) as refused:
            parse_event(make_event(amount=amount))
        (error,) = refused.value.errors
        assert error.field == "amount"
        assert message in error.message

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            pytest.param("1_000", "digits 0-9", id="underscore-separator"),
            pytest.param("\u0661\u0662\u0663", "digits 0-9", id="arabic-indic-digits"),
            pytest.param("\uff11\uff12", "digits 0-9", id="full-width-digits"),
            pytest.param("12\u00a0", "digits 0-9", id="no-break-space"),
            pytest.param("0x10", "digits 0-9", id="hexadecimal"),
            pytest.param("1e999999999", "out of range", id="exponent-overflows-the-context"),
            pytest.param("1e" + "9" * 40, "out of range", id="exponent-past-decimal-limits"),
            pytest.param("-1e-999999999", "out of range", id="negative-underflows-to-zero"),
            pytest.param(10**31, "out of range", id="json-integer-10e31"),
            pytest.param(1e300, "out of range", id="json-float-1e300"),
        ],
    )
    def test_hostile_spellings_are_refused_naming_the_field(
        self, amount: Any, message: str
    ) -> None:
        """Python's Decimal reads "1_000" and non-ASCII digits, and at 1e999999999 the canonical
        spelling hit an internal assertion ("Assertion failed"); -1e-999999999 underflowed to
        zero and was stored as a valid non-negative amount."""
        with pytest.raises(ValidationFailed) as refused:
            parse_event(make_event(amount=amount))
        (error,) = refused.value.errors
        assert error.field == "amount"
        assert message in error.message

    @pytest.mark.parametrize("amount", ["1e999999999", "-1e-999999999", "\u0661\u0662\u0663"])
    def test_over_http_a_hostile_amount_is_a_422_and_nothing_is_stored(
        self, app_client: Api, amount: str
    ) -> None:
        response = app_client.post_event(make_event(amount=amount))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["amount"]
        assert app_client.written() == (0, 0)

    def test_affordability_figures_are_money_too(self) -> None:
        customer = {
            "affordability": {
                "assessed_at": "2025-03-01T00:00:00+08:00",
                "monthly_income": 8000,
                "monthly_debt_service": "1200.5",
            }
        }
        event = Event.model_validate(make_event(customer=customer))
        dumped = event.model_dump(mode="json")["customer"]["affordability"]
        assert (dumped["monthly_income"], dumped["monthly_debt_service"]) == ("8000.00", "1200.50")


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

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            pytest.param({"amount\u200b": "50000"}, "amount\u200b", id="zero-width-space"),
            pytest.param(
                {"\uff41\uff4d\uff4f\uff55\uff4e\uff54": "50000"},
                "\uff41\uff4d\uff4f\uff55\uff4e\uff54",
                id="full-width",
            ),
            pytest.param({"Amount": "50000"}, "Amount", id="upper-case"),
            pytest.param({"payee_id ": "p-9"}, "payee_id ", id="trailing-space"),
            pytest.param(
                {"customer": {"birth_date\u200b": "1940-01-01"}},
                "customer.birth_date\u200b",
                id="profile-zero-width",
            ),
        ],
    )
    def test_a_look_alike_of_a_known_field_is_refused(
        self, overrides: dict[str, Any], field: str
    ) -> None:
        """Unknown top-level keys go to ``attributes``: "amount<ZWSP>" looked like the amount
        to the lender and was kept as an attribute, so the event was decided with no amount
        (no amount rule could fire). A key that reads as a known field once invisible,
        full-width and upper-case characters are set aside is a mistake: 422 naming it."""
        with pytest.raises(ValidationFailed) as refused:
            parse_event(make_event(amount=MISSING, currency=MISSING, **overrides))
        (error,) = refused.value.errors
        assert error.field == field
        assert "is not the field" in error.message

    @pytest.mark.parametrize(
        "field",
        [
            "consecutive_missed_repayments",
            "active_lenders",
            "inquiries_6m",
            "utilisation",
            "adverse_credit_entries",
            "unpaid_judgments",
        ],
    )
    @pytest.mark.parametrize("flag", [True, False])
    def test_a_count_or_share_is_not_true_or_false(self, field: str, flag: bool) -> None:
        """``"consecutive_missed_repayments": true`` was read as 1 missed repayment (and
        ``false`` as 0): a lender's yes/no is not a count."""
        with pytest.raises(ValidationFailed) as refused:
            parse_event(make_event(customer={"credit": {field: flag}}))
        (error,) = refused.value.errors
        assert error.field == f"customer.credit.{field}"
        assert "not true or false" in error.message

    def test_an_unknown_field_that_is_no_look_alike_is_kept_in_attributes(self) -> None:
        event = parse_event(make_event(amout="5", merchant_category="5411"))
        assert event.attributes == {"amout": "5", "merchant_category": "5411"}

    def test_batch_over_1000_items_is_refused(self) -> None:
        with pytest.raises(ValidationError) as caught:
            EventBatch.model_validate({"events": [make_event() for _ in range(1001)]})
        assert "events" in _error_fields(caught.value)

    def test_batch_of_1000_is_accepted(self) -> None:
        batch = EventBatch.model_validate({"events": [{}] * 1000})
        assert len(batch.events) == 1000
