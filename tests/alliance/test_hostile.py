"""Hostile input on the alliance's routes, public and peer: every bad body is a 4xx naming the
field, and leaves no row behind (no list entry, no exchange, no nonce for an unsigned one)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from alliance.served_members import Member, alliance, eventually
from lendguard.alliance import group, peer
from lendguard.models.alliance import AllianceExchange, AllianceListEntry, AllianceNonce
from lendguard.models.base import Base

GOOD_POINT = group.hash_to_group("mobile", "+8613812345678")


@pytest.fixture
def pair(sqlite_template: Path, tmp_path: Path) -> Iterator[list[Member]]:
    with alliance(
        sqlite_template,
        tmp_path,
        "lender-a",
        "lender-b",
        max_body_bytes=4_000,
        alliance_max_body_bytes=20_000,
    ) as members:
        yield members


def rows(member: Member, model: type[Base]) -> int:
    with member.services.decisions.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def no_rows_left(member: Member) -> None:
    assert rows(member, AllianceListEntry) == 0
    assert rows(member, AllianceExchange) == 0


def field_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["field"])


# -- public routes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "passport", "value": "x", "reason": "confirmed_fraud"}, "kind"),
        ({"kind": "mobile", "value": "138\u00001234", "reason": "confirmed_fraud"}, "value"),
        ({"kind": "mobile", "value": {"a": {"b": [1]}}, "reason": "confirmed_fraud"}, "value"),
        ({"kind": "mobile", "value": "13812345678", "reason": "Free text 13812345678"}, "reason"),
        ({"kind": "mobile", "value": "12345", "reason": "confirmed_fraud"}, "value"),
        ({"kind": "card", "value": "4111111111111112", "reason": "confirmed_fraud"}, "value"),
        ({"kind": "mobile", "value": "", "reason": "confirmed_fraud"}, "value"),
        ({"kind": "mobile", "value": "13812345678", "reason": "x", "extra": 1}, "extra"),
    ],
)
def test_a_bad_list_entry_names_its_field(
    pair: list[Member], body: dict[str, Any], field: str
) -> None:
    a, _b = pair
    response = a.post("/v1/alliance/list/entries", body, "alliance:write")
    assert response.status_code == 422, response.text
    assert field_of(response).endswith(field)
    no_rows_left(a)


def test_oversize_and_deeply_nested_bodies(pair: list[Member]) -> None:
    a, _b = pair
    big = {"kind": "device_id", "value": "x" * 5_000, "reason": "confirmed_fraud"}
    response = a.post("/v1/alliance/list/entries", big, "alliance:write")
    assert response.status_code == 413
    assert field_of(response) == "body"
    deep: Any = "13812345678"
    for _ in range(200):
        deep = [deep]
    nested = a.post(
        "/v1/alliance/list/entries",
        {"kind": "mobile", "value": deep, "reason": "confirmed_fraud"},
        "alliance:write",
    )
    assert nested.status_code == 422
    assert field_of(nested) == "value"
    malformed = a.http.post(
        "/v1/alliance/list/entries",
        content=b'{"kind": "mobile",',
        headers={**a.key("alliance:write"), "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    no_rows_left(a)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"identifiers": []}, "identifiers"),
        ({"identifiers": [{"kind": "mobile", "value": "13812345678"}] * 5}, "identifiers"),
        (
            {
                "identifiers": [
                    {"kind": "mobile", "value": "13812345678"},
                    {"kind": "mobile", "value": "nope"},
                ]
            },
            "identifiers.1.value",
        ),
        ({"identifiers": [{"kind": "iris", "value": "x"}]}, "identifiers.0.kind"),
        ({"identifiers": "13812345678"}, "identifiers"),
        (
            {"customer_id": "c\u0000", "identifiers": [{"kind": "card", "value": "1"}]},
            "customer_id",
        ),
    ],
)
def test_a_bad_lookup_names_its_field(pair: list[Member], body: dict[str, Any], field: str) -> None:
    a, b = pair
    response = a.post("/v1/alliance/lookups", body, "alliance:lookup")
    assert response.status_code == 422, response.text
    assert field_of(response).endswith(field), response.text
    no_rows_left(a)
    no_rows_left(b)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"peer": "lender-b", "list_kind": "mobile", "mode": "union"}, "mode"),
        ({"peer": "lender-b", "list_kind": "email", "mode": "cardinality"}, "list_kind"),
        ({"peer": "../etc", "list_kind": "mobile", "mode": "cardinality"}, "peer"),
        ({"peer": "lender-a", "list_kind": "mobile", "mode": "cardinality"}, "peer"),
    ],
)
def test_a_bad_psi_request_names_its_field(
    pair: list[Member], body: dict[str, Any], field: str
) -> None:
    a, b = pair
    response = a.post("/v1/alliance/psi", body, "alliance:write")
    assert response.status_code == 422, response.text
    assert field_of(response) == field
    no_rows_left(a)
    no_rows_left(b)


def test_bad_members_name_their_field(pair: list[Member]) -> None:
    a, _b = pair
    base = {"member_id": "lender-x", "name": "X", "url": "https://x.example", "public_key": ""}
    for change, field in [
        ({"member_id": "a b"}, "member_id"),
        ({"member_id": "lender-a"}, "member_id"),
        ({"url": "ftp://x"}, "url"),
        ({"public_key": "not base64 at all, not at all, not at all!"}, "public_key"),
        ({"public_key": base64.b64encode(b"x" * 31).decode()}, "public_key"),
    ]:
        body = {**base, "public_key": base64.b64encode(b"k" * 32).decode(), **change}
        response = a.post("/v1/alliance/members", body)
        assert response.status_code == 422, (change, response.text)
        assert field_of(response) == field
    assert a.http.delete("/v1/alliance/members/a%20b", headers=a.key("admin")).status_code == 422


# -- peer routes ---------------------------------------------------------------------------------


def signed_post(sender: Member, receiver: Member, path: str, body: bytes) -> httpx.Response:
    identity = sender.services.alliance.identity
    assert identity is not None
    headers = peer.signed_headers(identity, "POST", path, body, now=time.time())
    headers["content-type"] = "application/json"
    return receiver.http.post(path, content=body, headers=headers)


def psi_body(blinded: Any, **changes: Any) -> bytes:
    body = {"session_id": "psi_hostile1", "list_kind": "mobile", "mode": "cardinality"}
    return orjson.dumps({**body, "blinded": blinded, **changes})


def lookup_body(blinded: str, *more: str, **changes: Any) -> bytes:
    """One applicant's queries (``blinded``, then ``more``); ``changes`` alter the first."""
    first = {"kind": "mobile", "bucket": 7, "blinded": blinded, **changes}
    rest = [{"kind": "card", "bucket": 9, "blinded": point} for point in more]
    return orjson.dumps({"query_id": "alq_hostile1", "queries": [first, *rest]})


GOOD = base64.b64encode(GOOD_POINT).decode()
NOT_A_POINT = base64.b64encode(b"\xff" * 32).decode()
IDENTITY = base64.b64encode(b"\x00" * 32).decode()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("psi", psi_body("!!!not base64!!!"), "blinded"),
        ("psi", psi_body(base64.b64encode(GOOD_POINT + b"\x01").decode()), "blinded"),
        ("psi", psi_body(base64.b64encode(GOOD_POINT + b"\xff" * 32).decode()), "blinded"),
        ("psi", psi_body(IDENTITY), "blinded"),
        ("psi", psi_body(GOOD, list_kind="email"), "list_kind"),
        ("psi", psi_body(GOOD, mode="everything"), "mode"),
        ("psi", psi_body(GOOD, session_id="x"), "session_id"),
        ("psi", psi_body(GOOD, extra={"a": [[[[]]]]}), "extra"),
        ("psi", psi_body([GOOD]), "blinded"),
        ("lookup", lookup_body(NOT_A_POINT), "queries.0.blinded"),
        ("lookup", lookup_body(IDENTITY), "queries.0.blinded"),
        ("lookup", lookup_body("A" * 43 + "!"), "queries.0.blinded"),
        ("lookup", lookup_body(GOOD[:-4]), "queries.0.blinded"),
        ("lookup", lookup_body(GOOD, bucket=65536), "queries.0.bucket"),
        ("lookup", lookup_body(GOOD, bucket=True), "queries.0.bucket"),
        ("lookup", lookup_body(GOOD, bucket="7"), "queries.0.bucket"),
        ("lookup", lookup_body(GOOD, kind="iris"), "queries.0.kind"),
        # a bad point after good ones: refused whole, named by its index, nothing recorded
        ("lookup", lookup_body(GOOD, GOOD, NOT_A_POINT), "queries.2.blinded"),
        ("lookup", lookup_body(GOOD, GOOD, IDENTITY, GOOD), "queries.2.blinded"),
        ("lookup", lookup_body(GOOD, GOOD, GOOD, GOOD, GOOD), "queries"),
        ("lookup", orjson.dumps({"query_id": "alq_hostile1", "queries": []}), "queries"),
        ("lookup", orjson.dumps({"query_id": "alq_hostile1", "queries": GOOD}), "queries"),
        ("lookup", orjson.dumps({"query_id": "alq_hostile1", "queries": [[GOOD]]}), "queries.0"),
        ("lookup", lookup_body(GOOD, extra=1), "queries.0.extra"),
        # the single-query body of old: refused (its fields unknown, queries missing)
        (
            "lookup",
            orjson.dumps(
                {"query_id": "alq_hostile1", "kind": "mobile", "bucket": 7, "blinded": GOOD}
            ),
            "queries",
        ),
        ("lookup", b"[1, 2]", "body"),
        ("lookup", b'{"query_id": ', "body"),
    ],
)
def test_a_bad_peer_body_is_a_signed_4xx_naming_the_field(
    pair: list[Member], path: str, body: bytes, field: str
) -> None:
    a, b = pair
    response = signed_post(b, a, f"/v1/alliance/peer/{path}", body)
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code != 401
    assert field_of(response).endswith(field), response.text
    assert peer.SIGNATURE_HEADER in response.headers
    no_rows_left(a)


def test_a_good_peer_body_passes(pair: list[Member]) -> None:
    """The hostile cases above fail for their own reason: the same request done right passes."""
    a, b = pair
    assert signed_post(b, a, "/v1/alliance/peer/lookup", lookup_body(GOOD)).status_code == 200
    four = lookup_body(GOOD, GOOD, GOOD, GOOD)
    response = signed_post(b, a, "/v1/alliance/peer/lookup", four)
    assert response.status_code == 200, response.text
    assert len(response.json()["answers"]) == 4
    assert signed_post(b, a, "/v1/alliance/peer/psi", psi_body(GOOD)).status_code == 200
    assert eventually(lambda: rows(a, AllianceExchange), lambda n: n >= 3) == 3


def test_peer_bodies_over_the_alliance_limit_are_413(pair: list[Member]) -> None:
    a, b = pair
    # over the public limit (4 kB) but within the peer paths' (20 kB): accepted
    many = base64.b64encode(GOOD_POINT * 150).decode()
    assert signed_post(b, a, "/v1/alliance/peer/psi", psi_body(many)).status_code == 200
    too_many = base64.b64encode(GOOD_POINT * 700).decode()
    response = signed_post(b, a, "/v1/alliance/peer/psi", psi_body(too_many))
    assert response.status_code == 413
    assert rows(a, AllianceExchange) == 1


def test_control_characters_in_a_peer_body_are_422(pair: list[Member]) -> None:
    a, b = pair
    response = signed_post(b, a, "/v1/alliance/peer/psi", psi_body(GOOD, session_id="psi_\u0000x"))
    assert response.status_code == 422
    assert field_of(response) == "session_id"
    no_rows_left(a)


def test_unsigned_peer_requests_are_401_and_leave_no_nonce(pair: list[Member]) -> None:
    a, _b = pair
    for path in ("/v1/alliance/peer/psi", "/v1/alliance/peer/lookup"):
        response = a.http.post(path, content=lookup_body(GOOD))
        assert response.status_code == 401
        assert field_of(response).startswith("header.")
    assert rows(a, AllianceNonce) == 0
    no_rows_left(a)
