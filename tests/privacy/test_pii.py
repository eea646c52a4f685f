"""PII detection and masking: the vectors of reference-privacy.md section 6, property tests
(generated IDs, mobiles and cards embedded in Chinese and English text), the operators, the
logging processor, the ``lendguard pii`` commands and ``POST /v1/privacy/pii/mask``.

Parametrised vectors carry names as ids, so no raw identifier shows up in pytest's output (CI
scans its own logs for them).
"""

from __future__ import annotations

import io
import json
import logging
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from fixtures import PINNED_NOW, Api
from lendguard.cli.main import app as cli_app
from lendguard.config import get_settings
from lendguard.kit.crypto import pseudonymise
from lendguard.logging import PiiLogFilter, configure_logging, mask_pii
from lendguard.privacy.pii import (
    BANK_CARD,
    CN_MOBILE,
    CN_RESIDENT_ID,
    EMAIL,
    IP_ADDRESS,
    UK_NINO,
    US_SSN,
    Entity,
    PiiMasker,
    decrypt,
    derive_encryption_key,
    encrypt,
    is_cn_mobile,
    is_valid_resident_id,
    legacy_id_to_18,
    luhn_valid,
    mask_text,
    mask_value,
    resident_id_check_char,
    scan,
)

# Outcomes here are read against "now": pinned for every test.
pytestmark = pytest.mark.usefixtures("pinned_clock")

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def types_of(text: str) -> list[str]:
    return [e.type for e in scan(text)]


# -- section 6: resident ID ----------------------------------------------------------------------


def test_weights_are_powers_of_two_mod_11() -> None:
    assert [pow(2, 17 - i, 11) for i in range(17)] == WEIGHTS


def test_worked_example_of_the_standard() -> None:
    first17 = "11010519491231002"
    products = [int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)]
    assert products == [7, 9, 0, 5, 0, 20, 2, 9, 24, 27, 7, 18, 30, 5, 0, 0, 4]
    assert sum(products) == 167
    assert sum(products) % 11 == 2
    assert resident_id_check_char(first17) == "X"


@pytest.mark.parametrize(
    ("first17", "total", "full"),
    [
        ("44052418800101001", 195, "440524188001010014"),
        ("34052419800101001", None, "34052419800101001X"),
        ("37010119010203997", None, "370101190102039973"),
        ("11010120000101123", 65, "110101200001011232"),
    ],
    ids=["shantou", "anhui-x", "jinan", "beijing-2000"],
)
def test_check_character_vectors(first17: str, total: int | None, full: str) -> None:
    if total is not None:
        assert sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) == total
    assert first17 + resident_id_check_char(first17) == full
    assert is_valid_resident_id(full)
    found = scan(f"身份证号{full}。")
    assert found == [Entity(CN_RESIDENT_ID, 4, 22, full, 1.0)]


@pytest.mark.parametrize(
    "value",
    ["110105194912310021", "11010519491331002X"],
    ids=["wrong-check", "month-13"],
)
def test_negative_id_vectors(value: str) -> None:
    assert not is_valid_resident_id(value)
    assert CN_RESIDENT_ID not in types_of(f"证件{value}号")


def test_lower_case_x_is_valid() -> None:
    assert is_valid_resident_id("11010519491231002x")
    (entity,) = scan("身份证11010519491231002x已核验")
    assert (entity.type, entity.text) == (CN_RESIDENT_ID, "11010519491231002x")


def test_legacy_15_digit_form() -> None:
    assert legacy_id_to_18("110105491231002") == "11010519491231002X"
    assert is_valid_resident_id("110105491231002")
    assert not is_valid_resident_id("110105490230002")  # 1949-02-30
    assert not is_valid_resident_id("990105491231002")  # no such province
    (entity,) = scan("旧身份证110105491231002，已换领")
    assert (entity.type, entity.start, entity.end) == (CN_RESIDENT_ID, 4, 19)
    assert mask_text("旧身份证110105491231002") == "旧身份证110105*****1002"


def test_dates_leap_years_and_the_future() -> None:
    def with_date(yyyymmdd: str) -> str:
        first17 = f"110105{yyyymmdd}123"
        return first17 + resident_id_check_char(first17)

    assert is_valid_resident_id(with_date("20000229"))  # 2000 is a leap year
    assert not is_valid_resident_id(with_date("19000229"))  # 1900 is not
    assert not is_valid_resident_id(with_date("20230229"))
    assert not is_valid_resident_id(with_date("19490431"))
    future = PINNED_NOW.date() + timedelta(days=400)
    assert not is_valid_resident_id(with_date(f"{future:%Y%m%d}"))


def test_an_id_that_also_passes_luhn_is_an_id() -> None:
    ids = (
        f"110105194912310{seq:02d}" + resident_id_check_char(f"110105194912310{seq:02d}")
        for seq in range(100)
    )
    both = next(i for i in ids if i.isdigit() and luhn_valid(i))
    assert types_of(f"号码{both}") == [CN_RESIDENT_ID]
    assert scan(f"号码{both}", [BANK_CARD]) == []  # the span is an ID whatever is asked for


# -- section 6: bank cards -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("79927398713", True),
        ("4111111111111111", True),
        ("6217000000000000004", True),
        ("6228480000000007", True),
        ("6222020200112233446", True),
        ("6222020200112233445", False),
    ],
    ids=["classic", "visa", "unionpay-19", "unionpay-16", "unionpay-446", "unionpay-445"],
)
def test_luhn_vectors(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid
    found = types_of(f"卡号{number}元")
    if valid and len(number) >= 13:
        assert found == [BANK_CARD]
    else:
        assert BANK_CARD not in found


def test_cards_next_to_chinese_and_in_groups() -> None:
    # Presidio's \b regexes miss this one (CJK characters are \w in Python's re)
    assert scan("卡号4111111111111111元") == [Entity(BANK_CARD, 2, 18, "4111111111111111", 0.9)]
    text = "尾号卡 6222 0202 0011 2233 446，请核对"
    (entity,) = scan(text)
    assert entity.type == BANK_CARD
    assert entity.text == "6222 0202 0011 2233 446"
    assert mask_text(text) == "尾号卡 6222 02** **** ***3 446，请核对"


def test_card_mask_keeps_first_6_and_last_4() -> None:
    assert mask_value(BANK_CARD, "6222020200112233446") == "622202*********3446"
    assert mask_value(BANK_CARD, "4111111111111111") == "411111******1111"


# -- section 6: mobile numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "mobile"),
    [
        ("13812345678", True),
        ("14512345678", True),
        ("16612345678", True),
        ("17012345678", True),
        ("19912345678", True),
        ("12012345678", False),
        ("1381234567", False),
        ("010-12345678", False),
    ],
    ids=["138", "145", "166", "170", "199", "120", "ten-digits", "fixed-line"],
)
def test_mobile_vectors(number: str, mobile: bool) -> None:
    assert is_cn_mobile(number) is mobile
    found = types_of(f"手机{number}联系")
    assert (found == [CN_MOBILE]) is mobile
    if not mobile:
        assert CN_MOBILE not in found


@pytest.mark.parametrize(
    ("text", "span", "masked"),
    [
        ("请拨打+86 139-1234-5678", (3, 20), "请拨打+86 139-****-5678"),
        ("tel: 0086 13912345678.", (5, 21), "tel: 0086 139****5678."),
        ("电话(+86)13912345678，谢谢", (2, 18), "电话(+86)139****5678，谢谢"),
        ("call 139 1234 5678 now", (5, 18), "call 139 **** 5678 now"),
        ("座机不通，打(139) 1234 5678", (6, 21), "座机不通，打(139) **** 5678"),
    ],
    ids=["plus86-dashes", "0086", "parens", "spaces", "bracketed-head"],
)
def test_mobile_prefixes_and_separators(text: str, span: tuple[int, int], masked: str) -> None:
    (entity,) = scan(text)
    assert (entity.type, entity.start, entity.end) == (CN_MOBILE, *span)
    assert mask_text(text) == masked


def test_reference_sentence() -> None:
    text = (
        "客户张三，身份证11010519491231002X，手机13812345678，卡号6222020200112233445 与 "
        "6222020200112233446"
    )
    entities = scan(text)
    assert [(e.type, e.text) for e in entities] == [
        (CN_RESIDENT_ID, "11010519491231002X"),
        (CN_MOBILE, "13812345678"),
        (BANK_CARD, "6222020200112233446"),
    ]
    for e in entities:
        assert text[e.start : e.end] == e.text
    assert mask_text(text) == (
        "客户张三，身份证110105********002X，手机138****5678，卡号6222020200112233445 与 "
        "622202*********3446"
    )


def test_email_ip_and_english_identifiers() -> None:
    text = (
        "邮箱zhang.san@example.com，IP 192.168.1.20. v6 fe80::1ff:fe23:4567:890a; "
        "SSN 536-22-1234, NINO AB 12 34 56 C"
    )
    got = {(e.type, e.text) for e in scan(text)}
    assert got == {
        (EMAIL, "zhang.san@example.com"),
        (IP_ADDRESS, "192.168.1.20"),
        (IP_ADDRESS, "fe80::1ff:fe23:4567:890a"),
        (US_SSN, "536-22-1234"),
        (UK_NINO, "AB 12 34 56 C"),
    }
    assert mask_text(text) == (
        "邮箱z***@example.com，IP 192.168.1.*. v6 fe80:0:0::*; SSN ***-**-1234, NINO AB ** ** ** C"
    )


@pytest.mark.parametrize(
    "text",
    [
        "SSN 000-12-3456",
        "SSN 666-12-3456",
        "SSN 912-12-3456",
        "SSN 536-00-1234",
        "SSN 536-22-0000",
        "SSN 078-05-1120",
        "SSN 536-22 1234",
        "NINO QQ 12 34 56 C",
        "NINO AB 12 34 56 E",
        "ip 256.1.1.1",
        "version 1.2.3.4.5",
        "std::vector<int>",
        "12:30:45",
    ],
    ids=lambda t: t.split()[0] + "-" + str(zlib.crc32(t.encode()) % 1000),
)
def test_not_identifiers(text: str) -> None:
    assert scan(text) == []


def test_boundaries_are_ascii_letters_and_digits_only() -> None:
    assert types_of("电话13812345678转") == [CN_MOBILE]
    assert types_of("phone_13812345678") == [CN_MOBILE]
    assert scan("abc13812345678") == []  # part of a token
    assert scan("213812345678") == []  # 12 digits: not a mobile
    assert scan("sha=d41d8cd98f00b204e9800998ecf8427e") == []


def test_full_width_digits_keep_offsets() -> None:
    text = "手机１３８１２３４５６７８。"
    assert scan(text) == [Entity(CN_MOBILE, 2, 13, "１３８１２３４５６７８", 0.8)]
    assert mask_text(text) == "手机１３８****５６７８。"


def test_fast_path_and_types_filter() -> None:
    assert scan("没有数字的一句话 no digits here") == []
    text = "手机13812345678 邮箱a@b.cn"
    assert [e.type for e in scan(text, [EMAIL])] == [EMAIL]
    assert mask_text(text, [CN_MOBILE]) == "手机138****5678 邮箱a@b.cn"


def test_longest_candidate_wins() -> None:
    (entity,) = scan("邮箱13812345678@qq.com")
    assert entity.type == EMAIL
    assert mask_text("邮箱13812345678@qq.com") == "邮箱1***@qq.com"
    # 86 + a mobile number is 13 digits; even when it passes Luhn it is read as a mobile
    number = next(f"86138{n:08d}" for n in range(10_000) if luhn_valid(f"86138{n:08d}"))
    assert types_of(f"号{number}") == [CN_MOBILE]


def test_many_findings_in_one_long_text() -> None:
    text = "手机13812345678，邮箱13912345678@qq.com；" * 3_000
    entities = scan(text)
    assert [e.type for e in entities[:2]] == [CN_MOBILE, EMAIL]
    assert len(entities) == 6_000
    assert mask_text(text) == "手机138****5678，邮箱1***@qq.com；" * 3_000


# -- operators -----------------------------------------------------------------------------------


def test_hash_operator_joins_formats_and_the_contact_guard() -> None:
    masker = PiiMasker("test-key")
    a, _ = masker.apply("手机 +86 138-1234-5678", "hash")
    b, _ = masker.apply("手机 13812345678", "hash")
    token = pseudonymise("+8613812345678", b"test-key")  # the contact guard's contact_hash
    assert a == b == f"手机 <CN_MOBILE:{token}>"
    legacy, _ = masker.apply("110105491231002", "hash")
    current, _ = masker.apply("11010519491231002x", "hash")
    assert legacy == current
    other, _ = PiiMasker("another-key").apply("13812345678", "hash")
    assert other != b.removeprefix("手机 ")


def test_encrypt_operator_round_trip() -> None:
    key = derive_encryption_key("test-key")
    assert len(key) == 32
    sealed = encrypt("13812345678", key)
    assert sealed.startswith("e1:")
    assert "13812345678" not in sealed
    assert encrypt("13812345678", key) != sealed  # random nonce
    assert decrypt(sealed, key) == "13812345678"
    with pytest.raises(ValueError, match="does not decrypt"):
        decrypt(sealed, derive_encryption_key("other"))
    masker = PiiMasker("test-key")
    out, (entity,) = masker.apply("卡号6222020200112233446", "encrypt")
    assert out.startswith("卡号<BANK_CARD:e1:")
    assert out.endswith(">")
    assert decrypt(out[len("卡号<BANK_CARD:") : -1], masker.encryption_key) == entity.text


# -- property tests ------------------------------------------------------------------------------

REGIONS = [
    "110105", "110101", "120101", "130102", "310104", "320102", "330106", "340524", "350102",
    "370101", "410102", "420102", "440305", "440524", "450103", "510107", "610113", "620102",
    "650102", "230103",
]  # fmt: skip
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
PUNCT = list("，。！？：；、（）【】“”《》 ,.;:!?/()[]'\"=\t")
WORDS = ["call", "me", "my", "card", "is", "ID", "number", "please", "transfer", "to", "the"]
ADJACENT = st.one_of(CJK, st.sampled_from(PUNCT))
CONTEXT = st.one_of(
    st.text(alphabet=st.one_of(CJK, st.sampled_from(PUNCT)), max_size=12),
    st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join),
)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=PINNED_NOW.date()))
    first17 = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    check = resident_id_check_char(first17)
    if check == "X" and draw(st.booleans()):
        check = "x"
    return first17 + check


@st.composite
def legacy_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    return f"{region}{born:%y%m%d}{draw(st.integers(0, 999)):03d}"


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(as written, masked as expected)."""
    head = f"1{draw(st.integers(3, 9))}{draw(st.integers(0, 9))}"
    middle = f"{draw(st.integers(0, 9999)):04d}"
    tail = f"{draw(st.integers(0, 9999)):04d}"
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "(+86)"]))
    sep = draw(st.sampled_from(["", " ", "-"]))
    if draw(st.integers(0, 5)) == 0:
        head = f"({head})"  # (138) 1234 5678
    return (
        f"{prefix}{head}{sep}{middle}{sep}{tail}",
        f"{prefix}{head}{sep}****{sep}{tail}",
    )


def luhn_complete(partial: str) -> str:
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable")


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    """UnionPay-like Luhn-valid numbers, 16-19 digits, contiguous or in groups of 4."""
    length = draw(st.integers(16, 19))
    body = "".join(str(draw(st.integers(0, 9))) for _ in range(length - 3))
    digits = luhn_complete("62" + body)
    assume(not is_valid_resident_id(digits))  # an 18-digit valid ID is an ID, by design
    masked = digits[:6] + "*" * (length - 10) + digits[-4:]
    sep = draw(st.sampled_from(["", " ", "-"]))
    if not sep:
        return digits, masked

    def group(s: str) -> str:
        return sep.join(s[i : i + 4] for i in range(0, len(s), 4))

    return group(digits), group(masked)


def embed(draw: st.DrawFn, value: str) -> tuple[str, int]:
    before = draw(CONTEXT) + draw(ADJACENT)
    after = draw(ADJACENT) + draw(CONTEXT)
    return before + value + after, len(before)


@given(st.data(), resident_ids())
def test_generated_ids_are_found_and_masked(data: st.DataObject, value: str) -> None:
    text, start = embed(data.draw, value)
    assert scan(text) == [Entity(CN_RESIDENT_ID, start, start + 18, value, 1.0)]
    masked = mask_text(text)
    assert masked == text[:start] + value[:6] + "********" + value[-4:] + text[start + 18 :]


@given(st.data(), legacy_ids())
def test_generated_legacy_ids_are_found_and_masked(data: st.DataObject, value: str) -> None:
    text, start = embed(data.draw, value)
    assert scan(text) == [Entity(CN_RESIDENT_ID, start, start + 15, value, 0.7)]
    assert mask_text(text) == text[:start] + value[:6] + "*****" + value[-4:] + text[start + 15 :]


@given(st.data(), mobiles())
def test_generated_mobiles_are_found_and_masked(
    data: st.DataObject, mobile: tuple[str, str]
) -> None:
    value, masked = mobile
    text, start = embed(data.draw, value)
    (entity,) = scan(text)
    assert (entity.type, entity.start, entity.end, entity.text) == (
        CN_MOBILE,
        start,
        start + len(value),
        value,
    )
    assert mask_text(text) == text[:start] + masked + text[start + len(value) :]


@given(st.data(), cards())
def test_generated_cards_are_found_and_masked(data: st.DataObject, card: tuple[str, str]) -> None:
    value, masked = card
    text, start = embed(data.draw, value)
    (entity,) = scan(text)
    assert (entity.type, entity.start, entity.end, entity.text) == (
        BANK_CARD,
        start,
        start + len(value),
        value,
    )
    assert mask_text(text) == text[:start] + masked + text[start + len(value) :]


@given(st.data(), resident_ids(), mobiles(), cards(), st.permutations([0, 1, 2]))
def test_several_items_in_one_text(
    data: st.DataObject,
    rid: str,
    mobile: tuple[str, str],
    card: tuple[str, str],
    order: list[int],
) -> None:
    items = [(CN_RESIDENT_ID, rid), (CN_MOBILE, mobile[0]), (BANK_CARD, card[0])]
    text = data.draw(CONTEXT)
    expected = []
    for i in order:
        kind, value = items[i]
        text += data.draw(ADJACENT)
        expected.append((kind, len(text), value))
        text += value + data.draw(ADJACENT) + data.draw(CONTEXT)
    assert [(e.type, e.start, e.text) for e in scan(text)] == expected
    masked = mask_text(text)
    for _, _, value in expected:
        assert value not in masked


@given(st.data(), resident_ids(), st.sampled_from("0123456789X"))
def test_wrong_check_digit_is_not_an_id(data: st.DataObject, rid: str, wrong: str) -> None:
    assume(wrong != rid[17].upper())
    value = rid[:17] + wrong
    text, _ = embed(data.draw, value)
    assert CN_RESIDENT_ID not in types_of(text)


@st.composite
def impossible_dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(1900, 2099))
    kind = draw(st.sampled_from(["feb30", "feb29", "day31", "future"]))
    if kind == "feb30":
        return f"{year}02{draw(st.sampled_from(['30', '31']))}"
    if kind == "feb29":
        assume(year % 4 != 0 or (year % 100 == 0 and year % 400 != 0))
        return f"{year}0229"
    if kind == "day31":
        return f"{year}{draw(st.sampled_from(['04', '06', '09', '11']))}31"
    future = PINNED_NOW.date() + timedelta(days=draw(st.integers(1, 20_000)))
    assume(future.year < 2100)
    return f"{future:%Y%m%d}"


@given(st.data(), st.sampled_from(REGIONS), impossible_dates(), st.integers(0, 999))
def test_impossible_birth_date_is_not_an_id(
    data: st.DataObject, region: str, yyyymmdd: str, seq: int
) -> None:
    first17 = f"{region}{yyyymmdd}{seq:03d}"
    value = first17 + resident_id_check_char(first17)
    text, _ = embed(data.draw, value)
    assert CN_RESIDENT_ID not in types_of(text)


@given(st.data(), st.integers(13, 19), st.randoms(use_true_random=False))
def test_luhn_invalid_numbers_are_not_cards(data: st.DataObject, length: int, rnd: Any) -> None:
    digits = str(rnd.randint(1, 9)) + "".join(str(rnd.randint(0, 9)) for _ in range(length - 1))
    assume(not luhn_valid(digits))
    text, _ = embed(data.draw, digits)
    assert BANK_CARD not in types_of(text)


# -- logging -------------------------------------------------------------------------------------


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    saved = structlog.get_config()
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    yield stream
    structlog.configure(**saved)


def test_log_lines_carry_no_raw_pii(log_stream: io.StringIO) -> None:
    log = structlog.get_logger("pii-test")
    log.warning(
        "客户手机13812345678来电",
        id_card="11010519491231002X",
        card=6222020200112233446,
        nested={"contacts": ["+86 139-1234-5678", "a.b@example.com"], "count": 3},
        customer_id="cust-000123",
    )
    line = log_stream.getvalue().strip()
    record = json.loads(line)
    for raw in ("13812345678", "11010519491231002X", "6222020200112233446", "1234-5678"):
        assert raw not in line
    assert record["event"] == "客户手机138****5678来电"
    assert record["id_card"] == "110105********002X"
    assert record["card"] == "622202*********3446"
    assert record["nested"] == {"contacts": ["+86 139-****-5678", "a***@example.com"], "count": 3}
    assert record["customer_id"] == "cust-000123"
    assert record["level"] == "warning"
    assert "timestamp" in record


def test_masking_processor_leaves_clean_events_alone() -> None:
    event = {"event": "ruleset.activated", "version": 3, "actor": "key:abc", "n": 13812345678}
    assert mask_pii(None, "info", dict(event)) == {**event, "n": "138****5678"}
    clean = {"event": "state.restored", "replayed_events": 5000}
    assert mask_pii(None, "info", dict(clean)) == clean


def test_standard_logging_filter() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "card %s for %s", None, None)
    record.args = ("6222020200112233446", "cust-1")
    assert PiiLogFilter().filter(record)
    assert record.getMessage() == "card 622202*********3446 for cust-1"


# -- command line --------------------------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LENDGUARD_PII_KEY", "cli-test-key")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


LINES = (
    "客户张三，身份证11010519491231002X，手机13812345678\nnothing here\n\n卡号6222020200112233446\n"
)


def test_cli_scan_json_one_line_per_input_line(runner: CliRunner) -> None:
    result = runner.invoke(cli_app, ["pii", "scan", "--json"], input=LINES)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4
    assert [[e["type"] for e in r["entities"]] for r in rows] == [
        [CN_RESIDENT_ID, CN_MOBILE],
        [],
        [],
        [BANK_CARD],
    ]
    assert rows[0]["entities"][1] == {
        "type": CN_MOBILE,
        "start": 29,
        "end": 40,
        "text": "13812345678",
        "score": 0.8,
    }


def test_cli_scan_readable_form_is_masked(runner: CliRunner) -> None:
    result = runner.invoke(cli_app, ["pii", "scan"], input=LINES)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "1:8-26 CN_RESIDENT_ID 1.00 110105********002X",
        "1:29-40 CN_MOBILE 0.80 138****5678",
        "4:2-21 BANK_CARD 0.95 622202*********3446",
    ]


def test_cli_mask_from_a_file_and_operators(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "complaints.txt"
    source.write_text(LINES, encoding="utf-8")
    result = runner.invoke(cli_app, ["pii", "mask", "--file", str(source)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "客户张三，身份证110105********002X，手机138****5678",
        "nothing here",
        "",
        "卡号622202*********3446",
    ]
    hashed = runner.invoke(cli_app, ["pii", "mask", "--operator", "hash"], input="13812345678\n")
    token = pseudonymise("+8613812345678", b"cli-test-key")
    assert hashed.stdout.strip() == f"<CN_MOBILE:{token}>"
    sealed = runner.invoke(cli_app, ["pii", "mask", "--operator", "encrypt"], input="13812345678")
    assert sealed.stdout.startswith("<CN_MOBILE:e1:")
    bad = runner.invoke(cli_app, ["pii", "mask", "--operator", "rot13"], input="x")
    assert bad.exit_code == 2
    types = runner.invoke(cli_app, ["pii", "mask", "--types", "EMAIL"], input="13812345678 a@b.cn")
    assert types.stdout.strip() == "13812345678 a***@b.cn"


# -- HTTP ----------------------------------------------------------------------------------------

URL = "/v1/privacy/pii/mask"


def test_http_mask(app_client: Api) -> None:
    headers = app_client.key("privacy:mask")
    texts = ["投诉：催收员打我手机13812345678，身份证11010519491231002X被泄露", "没有个人信息"]
    response = app_client.client.post(URL, json={"texts": texts}, headers=headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["text"] == "投诉：催收员打我手机138****5678，身份证110105********002X被泄露"
    assert results[0]["entities"] == [
        {"type": CN_MOBILE, "start": 10, "end": 21, "score": 0.8, "replacement": "138****5678"},
        {
            "type": CN_RESIDENT_ID,
            "start": 25,
            "end": 43,
            "score": 1.0,
            "replacement": "110105********002X",
        },
    ]
    assert results[1] == {"text": "没有个人信息", "entities": []}
    hashed = app_client.client.post(
        URL, json={"texts": ["13812345678"], "operator": "hash"}, headers=headers
    ).json()
    key = app_client.services.settings.pii_key.encode()
    assert hashed["results"][0]["text"] == f"<CN_MOBILE:{pseudonymise('+8613812345678', key)}>"


def test_http_mask_needs_the_scope(app_client: Api) -> None:
    body = {"texts": ["13812345678"]}
    assert app_client.client.post(URL, json=body).status_code == 401
    other = app_client.key("cases:read")
    response = app_client.client.post(URL, json=body, headers=other)
    assert response.status_code == 403
    assert "privacy:mask" in response.json()["detail"]
    assert app_client.client.post(URL, json=body, headers=app_client.admin).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "texts"),
        ({"texts": ["x"] * 1001}, "texts"),
        ({"texts": ["ok", 3]}, "texts.1"),
        ({"texts": ["ok"], "operator": "rot13"}, "operator"),
        ({"texts": ["ok"], "types": ["PASSPORT"]}, "types.0"),
        ({"texts": ["ok"], "extra": 1}, "extra"),
    ],
    ids=["missing", "too-many", "not-a-string", "operator", "type", "extra"],
)
def test_http_mask_validation(app_client: Api, body: dict[str, Any], field: str) -> None:
    headers = app_client.key("privacy:mask")
    response = app_client.client.post(URL, json=body, headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in problem["errors"]]
