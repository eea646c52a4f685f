"""The lending contract: amounts are documented as the service reads them (a decimal string or a
JSON number, within the real bounds), every amount the schema allows is accepted, and the
defects the contract fuzzing found stay fixed (a compounded IRR past any float, a plan rate too
small for Decimal, an instalment that takes millions of months, a plan starting in year 9999)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from fixtures import Api
from lendguard.errors import ValidationFailed
from lendguard.lending.apr import Amount, NonNegativeAmount, amount_pattern, apr_answers
from lendguard.lending.hardship import HardshipRequest, PlanError, quote
from lendguard.lending.offers import NonNegativeMoney, Offer, PositiveMoney, check

PROBLEM = "application/problem+json"


def plan(**overrides: Any) -> HardshipRequest:
    body: dict[str, Any] = {
        "customer_id": "c-1",
        "balance": "12000",
        "contract_rate_percent": "18",
        "term_months": 12,
        "start_date": "2026-12-01",
    }
    body.update(overrides)
    return HardshipRequest.model_validate({k: v for k, v in body.items() if v is not None})


class TestAmountsAsDocumented:
    def test_an_offer_states_strings_or_numbers_within_the_bounds(self) -> None:
        schema = Offer.model_json_schema(mode="validation")
        principal = schema["properties"]["principal"]
        number, text = principal["anyOf"]
        assert number == {"type": "integer", "exclusiveMinimum": 0, "maximum": 10**12}
        assert text["type"] == "string"
        assert re.fullmatch(text["pattern"].strip("^$"), "19000.00")
        assert not re.search(text["pattern"], "0.00")  # above zero
        assert not re.search(text["pattern"], "19000.00001")  # at most 4 places
        assert schema["properties"]["advance_date"]["format"] == "date"

    def test_a_schedule_states_numbers_or_strings(self) -> None:
        schema = TypeAdapter(Amount).json_schema(mode="validation")
        assert {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12} in schema["anyOf"]

    @settings(max_examples=60, derandomize=True, database=None)
    @given(text=st.from_regex(amount_pattern(positive=True, decimals=4), fullmatch=True))
    def test_every_positive_amount_string_the_schema_allows_is_taken(self, text: str) -> None:
        assert TypeAdapter(PositiveMoney).validate_python(text) > 0
        assert TypeAdapter(Amount).validate_python(text) > 0

    @settings(max_examples=60, derandomize=True, database=None)
    @given(text=st.from_regex(amount_pattern(positive=False, decimals=4), fullmatch=True))
    def test_every_amount_string_the_schema_allows_is_taken(self, text: str) -> None:
        assert TypeAdapter(NonNegativeMoney).validate_python(text) >= 0
        assert TypeAdapter(NonNegativeAmount).validate_python(text) >= 0

    @settings(max_examples=60, derandomize=True, database=None)
    @given(value=st.floats(min_value=0, max_value=1e12, exclude_min=True))
    def test_every_number_the_schedule_schema_allows_is_taken(self, value: float) -> None:
        assert TypeAdapter(Amount).validate_python(value) == value

    @pytest.mark.parametrize("bad", ["1000000000000.01", "-1", "0", True, "1e400", "1_000"])
    def test_what_the_schema_refuses_is_refused(self, bad: Any) -> None:
        with pytest.raises(ValidationError):
            TypeAdapter(PositiveMoney).validate_python(bad)

    def test_the_offer_parts_state_no_other_fields(self) -> None:
        def closed(model: type[BaseModel]) -> bool:
            return model.model_json_schema()["additionalProperties"] is False

        assert closed(Offer)
        assert closed(HardshipRequest)


class TestFixedDefects:
    def test_an_irr_compounded_past_any_float_is_null_not_a_500(self) -> None:
        schedule = {
            "id": "x",
            "amount_financed": 1,
            "advance_date": "2024-01-01",
            "payments": [{"date": "2024-01-02", "amount": 1_000_000}],
            "unit_periods_per_year": 365,
        }
        (answer,) = apr_answers(schedule)
        assert answer["apr_compound"] is None
        assert answer["apr_simple"] > 0

    def test_a_plan_rate_too_small_for_decimal_is_interest_free(self) -> None:
        quoted = quote(plan(plan_rate_percent="0.0000000000000000000000001"), None)
        assert quoted["instalment"] == 1000.0
        assert quoted["term_months"] == 12

    def test_an_instalment_at_a_negligible_rate_sets_the_term(self) -> None:
        request = plan(term_months=None, target_instalment="1000", contract_rate_percent="1e-300")
        assert quote(request, None)["term_months"] == 12

    def test_an_instalment_that_takes_over_600_months_is_refused(self) -> None:
        request = plan(term_months=None, target_instalment="0.01", balance="1000000")
        with pytest.raises(PlanError) as refused:
            quote(request, None)
        assert refused.value.field == "target_instalment"

    def test_a_plan_starting_past_2199_is_refused_naming_the_date(self) -> None:
        with pytest.raises(ValidationError) as refused:
            plan(start_date="9999-12-01")
        assert refused.value.errors()[0]["loc"] == ("start_date",)
        assert plan(start_date="2199-12-31").start_date == date(2199, 12, 31)

    def test_an_offer_dated_before_the_first_policy_is_a_422_naming_as_of(self) -> None:
        with pytest.raises(ValidationFailed) as refused:
            check(
                {
                    "as_of": "1901-01-01",
                    "principal": "1000",
                    "advance_date": "1901-01-01",
                    "payments": [{"date": "1901-02-01", "amount": "1010"}],
                }
            )
        assert [e.field for e in refused.value.errors] == ["as_of"]

    def test_plan_amounts_read_as_money(self) -> None:
        assert plan(balance=12000).balance == Decimal("12000.00")
        with pytest.raises(ValidationError):
            plan(balance=True)


class TestOverHttp:
    def test_a_cent_instalment_is_a_422_not_a_hung_request(self, app_client: Api) -> None:
        response = app_client.client.post(
            "/v1/lending/hardship-plans/quote",
            json={
                "customer_id": "c-1",
                "balance": "1000000",
                "contract_rate_percent": "0",
                "target_instalment": "0.01",
                "start_date": "2026-12-01",
            },
            headers=app_client.admin,
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["field"] == "target_instalment"

    def test_a_caller_without_the_scope_is_refused_before_the_body_is_read(
        self, app_client: Api
    ) -> None:
        reader = app_client.key("decisions:read")
        for path in ("/v1/lending/apr", "/v1/lending/offers/check", "/v1/lending/hardship-plans"):
            response = app_client.client.post(path, json={"bad": True}, headers=reader)
            assert response.status_code == 403, path

    def test_plan_decisions_document_their_409(self, app_client: Api) -> None:
        spec = app_client.client.get("/openapi.json").json()
        for action in ("agree", "decline"):
            operation = spec["paths"][f"/v1/lending/hardship-plans/{{plan_id}}/{action}"]["post"]
            assert "409" in operation["responses"]
        apr = spec["paths"]["/v1/lending/apr"]["post"]
        assert apr["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/AprRequest"
        }

    def test_an_offer_reads_amounts_spelt_either_way(self, app_client: Api) -> None:
        offer: dict[str, Any] = {
            "as_of": "2026-03-02",
            "principal": "12000.00",
            "advance_date": "2026-03-02",
            "payments": [{"date": "2026-04-02", "amount": 12100}],
        }
        response = app_client.client.post(
            "/v1/lending/offers/check", json=offer, headers=app_client.admin
        )
        assert response.status_code == 200, response.text
        assert response.json()["cost"]["id"] == "offer"

    def test_validation_failed_is_what_the_engine_raises(self) -> None:
        with pytest.raises(ValidationFailed):
            apr_answers({"id": "x"})
