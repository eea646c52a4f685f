"""The intake helpers (privacy/intake.py): which identifiers are pseudonymised, how free-form
values are masked, and that the cheap pre-check never skips a string with a finding."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from lendguard.kit.crypto import pseudonymise
from lendguard.privacy.intake import (
    INTAKE_TYPES,
    find_pii,
    is_pseudonym,
    mask_free_form,
    may_hold_pii,
    protect_identifier,
    stored_identifier,
)
from lendguard.privacy.pii import scan

KEY = b"test-pii-key"


class TestIdentifiers:
    def test_an_identifier_holding_pii_becomes_its_pseudonym(self) -> None:
        for value in (
            "13987654321",
            "+86 139-8765-4321",
            "6222020200112233446",
            "11010519491231002X",
            "zhang.san@example.com",
            "cust:13987654321",
            "353918055467886",  # an IMEI passes Luhn: a device identifier, hashed too
        ):
            token = protect_identifier(value, KEY)
            assert token == pseudonymise(value, KEY), value
            assert stored_identifier(value, KEY) == token

    def test_opaque_identifiers_are_kept(self) -> None:
        for value in (
            "cust-00042",
            "C13987654321",  # glued to a letter: a token, not a number
            "1830001234567890127",  # a snowflake id: 19 digits from 1, passes Luhn
            "6222020200112233",  # fails Luhn
            "acct-20260115",
            "dev-1",
        ):
            assert protect_identifier(value, KEY) is None, value
            assert stored_identifier(value, KEY) == value

    def test_a_pseudonym_is_kept_and_a_lookalike_is_hashed(self) -> None:
        token = pseudonymise("13987654321", KEY)
        assert is_pseudonym(token)
        assert protect_identifier(token, KEY) is None
        lookalike = "h1:13987654321"
        hashed = protect_identifier(lookalike, KEY)
        assert hashed is not None
        assert is_pseudonym(hashed)
        assert hashed != lookalike

    def test_the_same_value_always_gives_the_same_pseudonym(self) -> None:
        assert protect_identifier("13987654321", KEY) == protect_identifier("13987654321", KEY)
        assert protect_identifier("13987654321", KEY) != protect_identifier("13987654322", KEY)
        assert protect_identifier("13987654321", KEY) != protect_identifier(
            "13987654321", b"another key"
        )


class TestFreeForm:
    def test_strings_are_masked_keys_pseudonymised_numbers_masked(self) -> None:
        attributes: dict[str, Any] = {
            "id_number": "11010519491231002X",
            "note": "邮箱 zhang.san@example.com，电话 139 8765 4321",
            "nested": {"list": ["6222 0202 0011 2233 446", 7, None, True, 2.5]},
            "13987654321": "a number as a key",
            "mobile": 13987654321,
            "order": 20260115,
            "version": "1.2.3.4",  # IP-shaped: not looked for on intake
            "contact_phones": [pseudonymise("13987654321", KEY)],
        }
        before = copy.deepcopy(attributes)
        masked = mask_free_form(attributes, KEY)
        assert attributes == before  # nothing modified in place
        assert masked == {
            "id_number": "110105********002X",
            "note": "邮箱 z***@example.com，电话 139 **** 4321",
            "nested": {"list": ["6222 02** **** ***3 446", 7, None, True, 2.5]},
            pseudonymise("13987654321", KEY): "a number as a key",
            "mobile": "139****4321",
            "order": 20260115,
            "version": "1.2.3.4",
            "contact_phones": [pseudonymise("13987654321", KEY)],
        }
        assert list(masked) == [
            "id_number",
            "note",
            "nested",
            pseudonymise("13987654321", KEY),
            "mobile",
            "order",
            "version",
            "contact_phones",
        ]
        # Deterministic, and applying it again changes nothing.
        assert mask_free_form(copy.deepcopy(attributes), KEY) == masked
        assert mask_free_form(masked, KEY) is masked

    def test_clean_values_come_back_as_the_same_objects(self) -> None:
        attributes = {"changed": "phone", "items": [{"sku": "A-1", "qty": 2}], "n": 12345}
        assert mask_free_form(attributes, KEY) is attributes

    def test_full_width_digits_are_found(self) -> None:
        assert mask_free_form({"m": "电话１３９８７６５４３２１"}, KEY) == {
            "m": "电话１３９****４３２１"
        }


# -- the pre-check never skips a string that has a finding ---------------------------------------

_ALPHABET = st.sampled_from(
    list("0123456789") * 4 + list(" -()+.@Xx:_/") + list("abcAB") + ["１", "３", "８", "中"]
)


@given(st.text(alphabet=_ALPHABET, max_size=40))
@example("123-45-6789")  # US SSN
@example("AB 12 34 56 C")  # UK NINO
@example("(138) 1234 5678")
@example("+86 138-1234-5678")
@example("6222-0202-0011-2233-446")
@example("zhang.san@example.com")
@example("１３９８７６５４３２１")
def test_the_pre_check_is_a_superset_of_the_detectors(text: str) -> None:
    if not may_hold_pii(text):
        assert scan(text, INTAKE_TYPES) == []
        assert find_pii(text) == []
