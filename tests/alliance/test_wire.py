"""What a responder actually sends back in a PSI, read off the wire (a signed HTTP answer from
a served member): in cardinality mode the requester's double-blinded points come back sorted,
not in the order it sent them, and nothing else than the four documented fields travels — so
the requester can count the overlap and learns nothing about which of its items matched."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from alliance.served_members import Member, alliance
from lendguard.alliance import group, peer, psi
from lendguard.alliance.canonical import canonicalise

LISTED = [f"+86 138 {n:04d} {n:04d}" for n in range(1, 9)]  # the responder's list
ASKED = [f"+8613{7 + n % 2}{n:08d}" for n in range(6)] + LISTED[2:6]  # 4 of them listed


@pytest.fixture
def pair(sqlite_template: Path, tmp_path: Path) -> Iterator[list[Member]]:
    with alliance(sqlite_template, tmp_path, "lender-a", "lender-b") as members:
        yield members


def peer_psi(sender: Member, receiver: Member, session: psi.RequesterSession, mode: str) -> dict:
    identity = sender.services.alliance.identity
    assert identity is not None
    path = "/v1/alliance/peer/psi"
    body = orjson.dumps(
        {
            "session_id": f"psi_wire_{mode}",
            "list_kind": "mobile",
            "mode": mode,
            "blinded": base64.b64encode(group.pack(session.blinded())).decode(),
        }
    )
    headers = peer.signed_headers(identity, "POST", path, body, now=time.time())
    headers["content-type"] = "application/json"
    response: httpx.Response = receiver.http.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers.get(peer.SIGNATURE_HEADER)
    return dict(response.json())


def points(text: str) -> list[bytes]:
    return group.unpack(base64.b64decode(text))


def test_a_cardinality_answer_is_sorted_and_carries_only_counts(pair: list[Member]) -> None:
    a, b = pair
    for value in LISTED:
        b.add_entry("mobile", value)
    canonicals = [canonicalise("mobile", value) for value in ASKED]
    session = psi.RequesterSession("mobile", canonicals)
    answer = peer_psi(a, b, session, "cardinality")

    assert set(answer) == {"session_id", "double_blinded", "own_blinded", "items"}
    double, own = points(answer["double_blinded"]), points(answer["own_blinded"])
    assert answer["items"] == len(LISTED) == len(own)
    assert len(double) == len(ASKED)
    # sorted bytewise: the order carries nothing of the requester's order
    assert double == sorted(double)
    assert own == sorted(own)
    result = session.finish(double, own, "cardinality")
    assert result.count == 4
    assert result.matched_indices is None
    # no identifier in any spelling travels back
    raw = orjson.dumps(answer)
    for value in canonicals + [v.replace(" ", "") for v in LISTED]:
        assert value.encode() not in raw
        assert value[3:].encode() not in raw


def test_an_intersection_answer_keeps_the_requesters_order(pair: list[Member]) -> None:
    a, b = pair
    for value in LISTED:
        b.add_entry("mobile", value)
    canonicals = [canonicalise("mobile", value) for value in ASKED]
    session = psi.RequesterSession("mobile", canonicals)
    answer = peer_psi(a, b, session, "intersection")
    double, own = points(answer["double_blinded"]), points(answer["own_blinded"])
    assert own == sorted(own)
    result = session.finish(double, own, "intersection")
    assert result.matched_indices == [6, 7, 8, 9]
    assert result.count == 4
