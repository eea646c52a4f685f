"""Canonical identifier forms, against the checksum vectors of the privacy reference (§6).

Two lenders must hash one person to one point whatever spelling each of them stored, and a
value that fails its checksum must be refused rather than hashed to somebody else.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.alliance.canonical import (
    KINDS,
    CanonicalError,
    canonicalise,
    luhn_valid,
    mask,
    resident_id_check_char,
)

TODAY = date(2026, 3, 3)


def rid(value: str) -> str:
    return canonicalise("resident_id", value, today=TODAY)


# -- resident ID ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("11010519491231002", "11010519491231002X"),  # the standard's Beijing Chaoyang example
        ("44052418800101001", "440524188001010014"),  # the standard's Shantou example
        ("34052419800101001", "34052419800101001X"),
        ("37010119010203997", "370101190102039973"),
        ("11010120000101123", "110101200001011232"),
    ],
)
def test_resident_id_check_character_vectors(first17: str, expected: str) -> None:
    assert first17 + resident_id_check_char(first17) == expected
    assert rid(expected) == expected


def test_resident_id_lower_case_x_and_separators_are_accepted() -> None:
    assert rid("11010519491231002x") == "11010519491231002X"
    assert rid(" 110105 19491231 002x ") == "11010519491231002X"
    assert rid("１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"  # full-width


def test_resident_id_15_digits_become_18() -> None:
    assert rid("110105491231002") == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("110105194912310021", "check character"),  # wrong check
        ("11010519491331002X", "birth date"),  # month 13
        ("11010519490230002X", "birth date"),  # 30 February
        ("110105207001010011", "birth date"),  # born in 2070: the future
        ("11010519491231002", "18 characters"),  # 17
        ("1101051949123100211", "18 characters"),  # 19
        ("11010519491231002Y", "digit or X"),
        ("1101051949123100X2", "first 17"),
        ("01010519491231002X", "address code"),
        ("11010549123100X", "15-character"),
        ("110105491331002", "birth date"),  # 15 digits, month 13
        ("", "18 characters"),
    ],
)
def test_resident_id_refusals_name_the_fault(value: str, fragment: str) -> None:
    with pytest.raises(CanonicalError, match=fragment) as caught:
        rid(value)
    assert value.strip() == "" or value not in str(caught.value)  # the value is not echoed


# -- card ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["79927398713", "4111111111111111", "6217000000000000004", "6228480000000007"],
)
def test_luhn_vectors(number: str) -> None:
    assert luhn_valid(number)


def test_cards_canonical_digits_unionpay_16_and_19() -> None:
    assert canonicalise("card", "6217 0000 0000 0000 004") == "6217000000000000004"
    assert canonicalise("card", "6228-4800-0000-0007") == "6228480000000007"
    assert canonicalise("card", "６２２２０２０２００１１２２３３４４６") == "6222020200112233446"
    assert canonicalise("card", "4111111111111111") == "4111111111111111"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("6222020200112233445", "Luhn"),
        ("4111111111111112", "Luhn"),
        ("79927398713", "12 to 19"),  # Luhn valid but 11 digits: no card
        ("62170000000000000000", "12 to 19"),  # 20 digits
        ("4111 1111 1111 111a", "digits only"),
        ("", "digits only"),
    ],
)
def test_card_refusals(value: str, fragment: str) -> None:
    with pytest.raises(CanonicalError, match=fragment):
        canonicalise("card", value)


# -- mobile --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "008613812345678",
        "0086 138 1234 5678",
        "8613812345678",
        "86 138 1234 5678",
        "１３８１２３４５６７８",
        "＋８６ １３８－１２３４－５６７８",
        " (+86) 138.1234.5678 ",
    ],
)
def test_mobile_spellings_share_one_e164_form(spelling: str) -> None:
    assert canonicalise("mobile", spelling) == "+8613812345678"


@pytest.mark.parametrize(
    "number", ["13812345678", "14512345678", "16612345678", "17012345678", "19912345678"]
)
def test_mainland_mobile_ranges(number: str) -> None:
    assert canonicalise("mobile", number) == "+86" + number


def test_other_countries_stay_e164() -> None:
    assert canonicalise("mobile", "+1 415-555-2671") == "+14155552671"
    assert canonicalise("mobile", "0044 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("12012345678", "starts with 13-19"),
        ("1381234567", "11 digits"),  # 10 digits
        ("138123456789", "11 digits"),  # 12 digits
        ("+86 1381234567", "11 digits"),
        ("+86 10 1234 5678", "11 digits"),  # a Beijing landline
        ("010-12345678", "starts with 13-19"),  # a landline, 11 digits too
        ("+1 234", "8 to 15"),
        ("+1234567890123456", "8 to 15"),
        ("+0 123456789", "country code"),
        ("138 1234 567a", "digits only"),
        ("+86 138 1234 567a", "digits only"),
        ("", "digits only"),
    ],
)
def test_mobile_refusals(value: str, fragment: str) -> None:
    with pytest.raises(CanonicalError, match=fragment):
        canonicalise("mobile", value)


# -- device id and kinds ------------------------------------------------------------------------


def test_device_id_nfkc_trimmed_lower_case() -> None:
    assert canonicalise("device_id", "  ABC-Def_１２３ ") == "abc-def_123"
    assert canonicalise("device_id", "x" * 128) == "x" * 128


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "empty"), ("   ", "empty"), ("x" * 129, "128"), ("ab\x00cd", "control")],
)
def test_device_id_refusals(value: str, fragment: str) -> None:
    with pytest.raises(CanonicalError, match=fragment):
        canonicalise("device_id", value)


def test_unknown_kind_and_non_strings_are_canonical_errors() -> None:
    with pytest.raises(CanonicalError, match="unknown identifier kind"):
        canonicalise("email", "a@b.c")
    with pytest.raises(CanonicalError, match="unknown identifier kind"):
        mask("email", "a@b.c")
    with pytest.raises(CanonicalError, match="string"):
        canonicalise("mobile", 13812345678)  # type: ignore[arg-type]
    assert issubclass(CanonicalError, ValueError)
    assert set(KINDS) == {"resident_id", "mobile", "card", "device_id"}


# -- masking -------------------------------------------------------------------------------------


def test_masks() -> None:
    assert mask("mobile", "+8613812345678") == "138****5678"
    assert mask("mobile", "+14155552671") == "+141****2671"
    assert mask("resident_id", "11010519491231002X") == "110105********002X"
    assert mask("card", "6217000000000000004") == "621700*********0004"
    assert mask("card", "6228480000000007") == "622848******0007"
    assert mask("device_id", "abcdef0123456789") == "abcd****"


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    national=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(["", "+86", "+86 ", "0086", "86", "＋８６"]),
    separator=st.sampled_from(["", " ", "-"]),
    full_width=st.booleans(),
)
def test_any_spelling_of_a_mobile_is_idempotent(
    national: str, prefix: str, separator: str, full_width: bool
) -> None:
    body = separator.join([national[:3], national[3:7], national[7:]])
    if full_width:
        body = body.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    value = canonicalise("mobile", prefix + body)
    assert value == "+86" + national
    assert canonicalise("mobile", value) == value


@settings(max_examples=60, deadline=None)
@given(
    address=st.from_regex(r"[1-6][0-9]{5}", fullmatch=True),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_15_and_18_digit_ids_of_one_person_agree(address: str, born: date, sequence: int) -> None:
    legacy = f"{address}{born:%y%m%d}{sequence:03d}"
    first17 = f"{address}{born:%Y%m%d}{sequence:03d}"
    full = first17 + resident_id_check_char(first17)
    assert rid(legacy) == rid(full) == rid(full.lower()) == full
    wrong = "0" if full[-1] != "0" else "1"
    with pytest.raises(CanonicalError):
        rid(full[:17] + wrong)


@settings(max_examples=60, deadline=None)
@given(digits=st.from_regex(r"[0-9]{11,18}", fullmatch=True))
def test_luhn_completion_is_accepted_and_a_changed_last_digit_refused(digits: str) -> None:
    check = next(d for d in "0123456789" if luhn_valid(digits + d))
    number = digits + check
    assert canonicalise("card", " ".join([number[:4], number[4:]])) == number
    other = str((int(check) + 1) % 10)
    with pytest.raises(CanonicalError, match="Luhn"):
        canonicalise("card", digits + other)
