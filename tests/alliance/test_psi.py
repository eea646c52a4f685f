"""ECDH-PSI and the bucketed OPRF lookup: right answers, and nothing more revealed than designed.

Raw identifiers come in the spellings lenders really store (spaces, dashes, full-width digits,
+86/0086, 15- and 18-digit IDs) and are canonicalised first, as the service does; the protocol's
intersection must then equal the plain set intersection, in both modes.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.alliance import group, psi
from lendguard.alliance.canonical import canonicalise, resident_id_check_char

TODAY = date(2026, 3, 3)
FULL_WIDTH = {ord(d): 0xFF10 + int(d) for d in "0123456789"}


# -- people and their spellings ------------------------------------------------------------------


def mobile_spelling(national: str, style: int) -> str:
    spaced = f"{national[:3]} {national[3:7]} {national[7:]}"
    return [
        national,
        "+86" + national,
        f"+86 {spaced}",
        "0086-" + national,
        "86" + national,
        spaced.translate(FULL_WIDTH),
        f"{national[:3]}-{national[3:7]}-{national[7:]}",
    ][style % 7]


def id_spelling(address: str, born: date, sequence: int, style: int) -> str:
    first17 = f"{address}{born:%Y%m%d}{sequence:03d}"
    full = first17 + resident_id_check_char(first17)
    if style % 3 == 0 and 1900 <= born.year <= 1999:
        return f"{address}{born:%y%m%d}{sequence:03d}"  # the 15-digit legacy form
    if style % 3 == 1:
        return full.lower().translate(FULL_WIDTH)
    return f" {full[:6]} {full[6:14]} {full[14:]} "


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
people_ids = st.tuples(
    st.sampled_from(["110105", "440524", "370101", "310115"]),
    st.dates(min_value=date(1930, 1, 1), max_value=date(2005, 12, 31)),
    st.integers(min_value=0, max_value=999),
)


@st.composite
def two_lists(draw: st.DrawFn, kind: str) -> tuple[list[str], list[str]]:
    """Raw spellings of A's and B's lists of one kind: a shared part and private parts; every
    side writes each person its own way."""
    base = mobiles if kind == "mobile" else people_ids
    shared = draw(st.lists(base, max_size=12, unique=True))
    only_a = draw(st.lists(base, max_size=12, unique=True))
    only_b = draw(st.lists(base, max_size=12, unique=True))

    def spell(person: object, style: int) -> str:
        if kind == "mobile":
            assert isinstance(person, str)
            return mobile_spelling(person, style)
        address, born, sequence = person  # type: ignore[misc]
        return id_spelling(address, born, sequence, style)

    styles = st.integers(min_value=0, max_value=20)
    a = [spell(p, draw(styles)) for p in shared + only_a]
    b = [spell(p, draw(styles)) for p in shared + only_b]
    a = draw(st.permutations(a))
    b = draw(st.permutations(b))
    return a, b


def canonical_set(kind: str, raw: list[str]) -> list[str]:
    return list(dict.fromkeys(canonicalise(kind, value, today=TODAY) for value in raw))


def run_psi(kind: str, a: list[str], b: list[str], mode: psi.Mode) -> psi.PsiResult:
    session = psi.RequesterSession(kind, a)
    wire = group.pack(session.blinded())
    answer = psi.respond(kind, b, group.unpack(wire), mode)
    return session.finish(
        group.unpack(group.pack(answer.double_blinded)),
        group.unpack(group.pack(answer.own_blinded)),
        mode,
    )


# -- PSI -----------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["mobile", "resident_id"]))
def test_intersection_equals_the_plain_intersection(data: st.DataObject, kind: str) -> None:
    raw_a, raw_b = data.draw(two_lists(kind))
    a, b = canonical_set(kind, raw_a), canonical_set(kind, raw_b)
    truth = set(a) & set(b)

    result = run_psi(kind, a, b, "intersection")
    assert result.matched_indices is not None
    assert {a[i] for i in result.matched_indices} == truth
    assert result.count == len(truth)
    assert result.matched_indices == sorted(result.matched_indices)

    counted = run_psi(kind, a, b, "cardinality")
    assert counted.matched_indices is None
    assert counted.count == len(truth)


def test_a_known_overlap_at_a_few_thousand() -> None:
    a = [f"+8613{i:09d}" for i in range(3000)]
    b = [f"+8613{i:09d}" for i in range(2500, 6000)]
    result = run_psi("mobile", a, b, "intersection")
    assert result.matched_indices == list(range(2500, 3000))
    assert run_psi("mobile", a, b, "cardinality").count == 500


def test_kinds_are_domain_separated() -> None:
    """The same string as a device id and as a mobile number are two different points."""
    session = psi.RequesterSession("device_id", ["13812345678"])
    answer = psi.respond("mobile", ["13812345678"], session.blinded(), "intersection")
    assert session.finish(answer.double_blinded, answer.own_blinded, "intersection").count == 0


def test_empty_sides() -> None:
    assert run_psi("mobile", [], ["+8613812345678"], "intersection") == psi.PsiResult([], 0)
    assert run_psi("mobile", ["+8613812345678"], [], "cardinality") == psi.PsiResult(None, 0)


def test_cardinality_answer_is_sorted_not_in_the_requesters_order() -> None:
    items = [f"+8613{i:09d}" for i in range(64)]
    session = psi.RequesterSession("mobile", items)
    blinded = session.blinded()
    intersection = psi.respond("mobile", items, blinded, "intersection")
    cardinality = psi.respond("mobile", items, blinded, "cardinality")
    assert cardinality.double_blinded == sorted(cardinality.double_blinded)
    assert intersection.double_blinded != sorted(intersection.double_blinded)  # 1/64! chance
    assert cardinality.own_blinded == sorted(cardinality.own_blinded)
    assert intersection.own_blinded == sorted(intersection.own_blinded)
    # Each response has its own fresh scalar: nothing in common between the two answers.
    assert not set(cardinality.double_blinded) & set(intersection.double_blinded)
    result = session.finish(cardinality.double_blinded, cardinality.own_blinded, "cardinality")
    assert result == psi.PsiResult(None, 64)
    # In A's order the positions line up; sorted, they do not reveal which of A's items matched.
    assert session.finish(
        intersection.double_blinded, intersection.own_blinded, "intersection"
    ) == psi.PsiResult(list(range(64)), 64)


def test_fresh_sessions_give_unrelated_blinded_values() -> None:
    items = [f"+8613{i:09d}" for i in range(32)]
    first = psi.RequesterSession("mobile", items).blinded()
    second = psi.RequesterSession("mobile", items).blinded()
    hashed = group.hash_many("mobile", items)
    assert not set(first) & set(second)
    assert not set(first) & set(hashed)
    # Same session, same values (computed once); blinded values are points.
    session = psi.RequesterSession("mobile", items)
    assert session.blinded() == session.blinded()
    assert all(group.is_point(value) for value in first)


def test_the_responder_never_answers_with_the_plain_hash() -> None:
    items = ["+8613812345678"]
    answer = psi.respond("mobile", items, [group.hash_to_group("mobile", "x")], "intersection")
    assert answer.own_blinded != group.hash_many("mobile", items)
    assert hashlib.sha256(items[0].encode()).digest() not in answer.own_blinded


def test_invalid_points_from_the_peer_are_refused() -> None:
    session = psi.RequesterSession("mobile", ["+8613812345678", "+8613812345679"])
    good = session.blinded()
    not_a_point = bytes([0xFF]) * 32  # a non-canonical field element: no ristretto255 point
    for bad in (not_a_point, bytes(32), b"short"):
        with pytest.raises(group.InvalidPoint):
            psi.respond("mobile", ["+8613812345678"], [good[0], bad], "intersection")
        with pytest.raises(group.InvalidPoint):
            session.finish([good[0], bad], good, "intersection")
        with pytest.raises(group.InvalidPoint):
            session.finish(good, [good[0], bad], "cardinality")
    with pytest.raises(group.InvalidPoint):
        group.unpack(os.urandom(33))


def test_answers_of_the_wrong_length_or_mode_are_refused() -> None:
    session = psi.RequesterSession("mobile", ["+8613812345678", "+8613812345679"])
    blinded = session.blinded()
    with pytest.raises(ValueError, match="answered 1 values for 2 items"):
        session.finish(blinded[:1], blinded, "intersection")
    with pytest.raises(ValueError, match="unknown PSI mode"):
        session.finish(blinded, blinded, "everything")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown PSI mode"):
        psi.respond("mobile", [], blinded, "everything")  # type: ignore[arg-type]


# -- lookup --------------------------------------------------------------------------------------


def lookup(index: psi.LookupIndex, kind: str, canonical: str) -> bool:
    query = psi.lookup_query(kind, canonical)
    evaluated = psi.lookup_answer(index.scalar, query.blinded)
    return query.is_hit(evaluated, index.bucket_tags(query.bucket))


@settings(max_examples=20, deadline=None)
@given(
    listed=st.lists(mobiles, min_size=0, max_size=30, unique=True),
    others=st.lists(mobiles, min_size=1, max_size=10, unique=True),
    style=st.integers(min_value=0, max_value=6),
)
def test_lookup_hits_iff_on_the_list(listed: list[str], others: list[str], style: int) -> None:
    k = group.scalar_from_seed(b"\x07" * 64)
    canon = [canonicalise("mobile", n) for n in listed]
    index = psi.LookupIndex.build("mobile", canon, k)
    assert len(index) == len(canon)
    for national in listed + others:
        asked = canonicalise("mobile", mobile_spelling(national, style))
        assert lookup(index, "mobile", asked) == (national in listed)


def test_lookup_add_remove_and_buckets() -> None:
    k = group.new_scalar()
    index = psi.LookupIndex.build("resident_id", [], k)
    person = "11010519491231002X"
    assert not lookup(index, "resident_id", person)
    index.add(person)
    index.add(person)  # twice: one entry
    assert len(index) == 1
    assert lookup(index, "resident_id", person)
    assert not lookup(index, "mobile", person)  # another kind is another point
    bucket = psi.bucket_of("resident_id", person)
    assert 0 <= bucket < psi.BUCKETS
    assert len(index.bucket_tags(bucket)) == 1
    assert all(len(tag) == psi.TAG_BYTES for tag in index.bucket_tags(bucket))
    index.remove(person)
    index.remove(person)  # absent: no-op
    assert len(index) == 0
    assert not lookup(index, "resident_id", person)
    with pytest.raises(ValueError, match="0..65535"):
        index.bucket_tags(psi.BUCKETS)


def test_a_bucket_is_a_public_hash_and_its_tags_are_sorted() -> None:
    value = "+8613812345678"
    digest = hashlib.sha256(b"lendguard-alliance-bucket-v1|mobile|" + value.encode()).digest()
    assert psi.bucket_of("mobile", value) == int.from_bytes(digest[:2], "big")
    index = psi.LookupIndex.build(
        "mobile", [f"+8613{i:09d}" for i in range(3000)], group.new_scalar()
    )
    for tags in index.buckets.values():
        assert tags == sorted(tags)


def test_the_member_sees_only_a_fresh_blinded_point_and_the_bucket() -> None:
    """Two queries for one applicant share the bucket (public, 16 bits) and nothing else; the
    blinded point is neither the applicant's hash nor the member's evaluation of it."""
    k = group.new_scalar()
    value = "+8613812345678"
    first, second = psi.lookup_query("mobile", value), psi.lookup_query("mobile", value)
    assert first.bucket == second.bucket == psi.bucket_of("mobile", value)
    assert first.blinded != second.blinded
    assert first.blinded != group.hash_to_group("mobile", value)
    assert first.blinded != group.blind(k, group.hash_to_group("mobile", value))
    assert group.is_point(first.blinded)
    assert "r=" not in repr(first)  # the secret stays out of logs
    # What the member's tag is made of never reaches it: H(x)^k appears only after unblinding.
    evaluated = psi.lookup_answer(k, first.blinded)
    assert evaluated != group.blind(k, group.hash_to_group("mobile", value))


def test_lookup_refuses_invalid_points() -> None:
    k = group.new_scalar()
    query = psi.lookup_query("mobile", "+8613812345678")
    for bad in (bytes([0xFF]) * 32, bytes(32), b"\x01" * 31):
        with pytest.raises(group.InvalidPoint):
            psi.lookup_answer(k, bad)
        with pytest.raises(group.InvalidPoint):
            query.is_hit(bad, [])
