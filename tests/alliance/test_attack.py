"""An attacker's pass over the alliance (issue #20): a hostile member, a hostile outsider and
a careless operator against real served members. Each test is one attack that worked before
its fix (or that is kept to show it fails)."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from alliance.served_members import ADMIN, Member, alliance
from lendguard.alliance import aggregation, group, peer, secagg
from lendguard.alliance.aggregation import layout
from lendguard.models.alliance import AllianceExchange, AllianceRoundState

PERIOD = "2026-01"


@pytest.fixture
def trio(sqlite_template: Path, tmp_path: Path) -> Iterator[list[Member]]:
    with alliance(sqlite_template, tmp_path, "lender-a", "lender-b", "lender-c") as members:
        yield members


def identity_of(member: Member) -> peer.Identity:
    identity = member.services.alliance.identity  # type: ignore[attr-defined]
    assert isinstance(identity, peer.Identity)
    return identity


def signed_step(
    sender: Member, to: Member, round_id: str, step: str, payload: dict[str, Any]
) -> httpx.Response:
    route = f"/v1/alliance/peer/aggregations/{round_id}/{step}"
    body = orjson.dumps(payload)
    headers = peer.signed_headers(identity_of(sender), "POST", route, body, now=time.time())
    headers["content-type"] = "application/json"
    return httpx.post(f"{to.base}{route}", content=body, headers=headers, timeout=30)


def state_of(member: Member) -> list[str]:
    with member.services.decisions.db.connect() as conn:
        return list(conn.execute(select(AllianceRoundState.step)).scalars())


def exchanges_of(member: Member) -> int:
    with member.services.decisions.db.connect() as conn:
        return len(conn.execute(select(AllianceExchange.id)).all())


@pytest.mark.parametrize("padding", ["lender-c", "ghost"])
def test_a_hostile_aggregator_cannot_pad_a_round_with_keys_of_its_own(
    trio: list[Member], padding: str
) -> None:
    """The aggregator (a) asks b to advertise, then announces a roster of three — its own keys,
    b's, and keys it made up under the name of c (who was never asked) or of no member at all.
    Were b to share and send its masked figures, the "sum of three" would be a's, b's and a's
    again: a would read b's figures off it. b refuses the roster (409) and keeps nothing but
    its advertise state; no exchange row."""
    a, b, _c = trio
    round_id = secrets.token_hex(16)
    answer = signed_step(a, b, round_id, "advertise", {"period": PERIOD, "layout": layout()})
    assert answer.status_code == 200, answer.text
    b_advert = secagg.Advert.from_json(answer.json()["advert"])
    own = secagg.Contributor.start(round_id, "lender-a", len(layout()))
    fake = secagg.Contributor.start(round_id, padding, len(layout()))
    hub = secagg.Aggregator(round_id=round_id, vector_length=len(layout()))
    for advert in (own.advert(), b_advert, fake.advert()):
        hub.add_advert(advert)
    roster = hub.close_adverts()
    a_identity = identity_of(a)
    signatures = {
        "lender-a": aggregation.sign_advert(a_identity, round_id, own.advert()),
        "lender-b": answer.json()["advert_signature"],
        # the best a can do: sign c's (or the ghost's) advert with its own key
        padding: aggregation.sign_advert(a_identity, round_id, fake.advert()),
    }
    for body, named in (
        ({"roster": roster.to_json()}, "signatures"),
        ({"roster": roster.to_json(), "signatures": signatures}, padding),
    ):
        refused = signed_step(a, b, round_id, "share", body)
        assert refused.status_code == 409, refused.text
        assert named in refused.json()["detail"]
    assert state_of(b) == ["advertise"]
    assert exchanges_of(b) == 0


def test_an_honest_round_of_three_still_runs(trio: list[Member]) -> None:
    """The signed adverts cost the honest round nothing: three members, totals, no drop."""
    a, _b, _c = trio
    answer = a.post("/v1/alliance/aggregations", {"period": PERIOD}, "alliance:write")
    assert answer.status_code == 201, answer.text
    round_ = answer.json()
    assert round_["participants"] == ["lender-a", "lender-b", "lender-c"]
    assert round_["dropped"] == []
    assert round_["totals"] is not None


class _Directory:
    """A member directory of one entry (the hostile member at ``url``)."""

    def __init__(self, url: str, key: Any) -> None:
        self.entry = peer._Peer("lender-x", url, key, True)

    def get(self, member_id: str) -> Any:
        return self.entry if member_id == "lender-x" else None


def _flooding_member(size: int, declared: bool) -> Any:
    """An ASGI "member" answering every request with ``size`` bytes of JSON, with or without
    a Content-Length (streamed in chunks)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = [(b"content-type", b"application/json")]
        if declared:
            headers.append((b"content-length", str(size).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        chunk = b" " * 65_536
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": sent < size})

    return app


@pytest.mark.parametrize("declared", [True, False])
def test_a_member_cannot_flood_the_requester_with_an_endless_answer(
    sqlite_template: Path, tmp_path: Path, declared: bool
) -> None:
    """A hostile member answers a peer request with more bytes than any answer may hold; the
    requester stops reading at its limit and refuses the answer (502), instead of holding all
    of it in memory first."""
    import asyncio

    from fixtures import served_app

    with alliance(sqlite_template, tmp_path, "lender-a") as (a,):
        identity = identity_of(a)
        with served_app(_flooding_member(5_000_000, declared)) as url:  # type: ignore[arg-type]
            key = secrets.token_bytes(32)
            member_key = peer.Identity("lender-x", key)._key.public_key()
            client = peer.PeerClient(
                identity,
                a.services.decisions.db,
                directory=_Directory(url, member_key),  # type: ignore[arg-type]
                max_answer_bytes=100_000,
            )

            async def ask() -> None:
                try:
                    await client.post("lender-x", "/v1/alliance/peer/psi", {})
                finally:
                    await client.aclose()

            with pytest.raises(peer.PeerRefused) as refused:
                asyncio.run(ask())
            assert refused.value.status == 502
            assert "over 100000 bytes" in str(refused.value.problem["detail"])


# -- peer authentication probes (each refused; kept so that it stays refused) -----------------

PSI_PATH = "/v1/alliance/peer/psi"


def _psi_body() -> bytes:
    point = base64.b64encode(group.hash_to_group("mobile", "+8613812345678")).decode()
    return orjson.dumps(
        {
            "session_id": "psi_attack01",
            "list_kind": "mobile",
            "mode": "cardinality",
            "blinded": point,
        }
    )


def test_signature_bypasses_are_refused(trio: list[Member]) -> None:
    """c tries to pass as b, to replay b's request, to move a signature to another path, to
    add a query string, to send another body than the one signed, to shift its clock, and a
    removed member tries its key. Each is a 401 naming the header, and leaves no exchange."""
    a, b, c = trio
    body = _psi_body()
    c_id, b_id = identity_of(c), identity_of(b)
    now = time.time()

    def post(path: str, headers: dict[str, str], content: bytes = body) -> httpx.Response:
        return a.http.post(
            path, content=content, headers={**headers, "content-type": "application/json"}
        )

    # c signs with its own key but says it is b
    forged = peer.signed_headers(c_id, "POST", PSI_PATH, body, now=now)
    forged[peer.MEMBER_HEADER] = "lender-b"
    assert post(PSI_PATH, forged).status_code == 401
    # a genuine request of b, replayed (lower-case header names change nothing)
    genuine = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    assert post(PSI_PATH, genuine).status_code == 200
    lowered = {k.lower(): v for k, v in genuine.items()}
    replay = post(PSI_PATH, lowered)
    assert replay.status_code == 401
    assert "replayed" in replay.text
    # b's nonce used by c under its own signature: nonces are per member, c's request is fine;
    # but c cannot reuse its own
    reuse = peer.signed_headers(
        c_id, "POST", PSI_PATH, body, now=now, nonce=genuine[peer.NONCE_HEADER]
    )
    assert post(PSI_PATH, reuse).status_code == 200
    assert post(PSI_PATH, reuse).status_code == 401
    # the signature moved to another path, a query string added, a trailing slash (a redirect
    # to the signed path, whose signature then covers another path: nothing is answered)
    fresh = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    assert post("/v1/alliance/peer/lookup", fresh).status_code == 401
    fresh = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    assert post(PSI_PATH + "?mode=intersection", fresh).status_code == 401
    fresh = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    assert post(PSI_PATH + "/", fresh).status_code in (307, 401, 404, 405)
    # another body than the one signed
    fresh = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    other = body.replace(b"cardinality", b"intersection")
    assert post(PSI_PATH, fresh, other).status_code == 401
    # duplicate member headers: the first is the one verified (here c's, signed by b: refused)
    fresh = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    raw = [(k, v) for k, v in fresh.items() if k != peer.MEMBER_HEADER]
    raw = [(peer.MEMBER_HEADER, "lender-c"), (peer.MEMBER_HEADER, "lender-b"), *raw]
    doubled = a.http.post(
        PSI_PATH, content=body, headers=httpx.Headers([*raw, ("content-type", "application/json")])
    )
    assert doubled.status_code == 401
    # a clock 301 s off
    skewed = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now - 301)
    assert post(PSI_PATH, skewed).status_code == 401
    # b removed at a: its next signed request is refused at once
    assert a.http.delete("/v1/alliance/members/lender-b", headers=ADMIN).status_code in (200, 204)
    after = peer.signed_headers(b_id, "POST", PSI_PATH, body, now=now)
    removed = post(PSI_PATH, after)
    assert removed.status_code == 401
    assert "removed" in removed.text
    with a.services.decisions.db.connect() as conn:
        peers = sorted(conn.execute(select(AllianceExchange.peer)).scalars())
    assert peers == ["lender-b", "lender-c"]


@pytest.fixture
def quintet(sqlite_template: Path, tmp_path: Path) -> Iterator[list[Member]]:
    names = ("lender-a", "lender-b", "lender-c", "lender-d", "lender-e")
    with alliance(sqlite_template, tmp_path, *names) as members:
        yield members


def test_a_hostile_aggregator_cannot_show_members_inconsistent_survivor_lists(
    quintet: list[Member],
) -> None:
    """The aggregator (a) runs an honest round of five up to the collect (every masked vector
    in, t = 4), then tells c, d and e that V = b dropped (they would reveal their shares of
    b's mask key s_b) and b that b survived (it would reveal its share of b's self-mask b_b):
    with t of each a could strip both of b's masks off b's masked vector and read b's figures.

    Before the consistency check (t = 3 then) the split {a, d, e} / {a, b, c} worked: each
    list had t members and a's own shares topped both up. Now: a list of 3 is under t; each
    member signs one list only; b reveals nothing for a list signed by fewer than t of its
    members (a cannot sign for c, d, e); so a holds t shares of s_b but one share of b_b (its
    own), and b's self-mask stays on."""
    a, b, c, d, e = quintet
    honest = [b, c, d, e]
    ids = ["lender-a", "lender-b", "lender-c", "lender-d", "lender-e"]
    round_id = secrets.token_hex(16)
    a_identity = identity_of(a)
    own = secagg.Contributor.start(round_id, "lender-a", len(layout()))
    hub = secagg.Aggregator(round_id=round_id, vector_length=len(layout()))
    hub.add_advert(own.advert())
    signatures = {"lender-a": aggregation.sign_advert(a_identity, round_id, own.advert())}
    for member, name in zip(honest, ids[1:], strict=True):
        answer = signed_step(
            a, member, round_id, "advertise", {"period": PERIOD, "layout": layout()}
        )
        assert answer.status_code == 200, answer.text
        hub.add_advert(secagg.Advert.from_json(answer.json()["advert"]))
        signatures[name] = answer.json()["advert_signature"]
    roster = hub.close_adverts()
    assert roster.threshold == 4
    hub.add_shares("lender-a", own.share(roster))
    for member, name in zip(honest, ids[1:], strict=True):
        answer = signed_step(
            a, member, round_id, "share", {"roster": roster.to_json(), "signatures": signatures}
        )
        assert answer.status_code == 200, answer.text
        hub.add_shares(name, answer.json()["shares"])
    inboxes = hub.close_shares()
    own.masked_input([0] * len(layout()), ids, inboxes["lender-a"])
    for member, name in zip(honest, ids[1:], strict=True):
        answer = signed_step(
            a, member, round_id, "collect", {"survivors": ids, "inbox": inboxes[name]}
        )
        assert answer.status_code == 200, answer.text

    def sign(survivors: list[str]) -> str:
        return aggregation.sign_survivors(a_identity, round_id, survivors)

    # the old split, a list of t = 3 on each side: under the threshold now
    refused = signed_step(
        a, d, round_id, "consistency", {"survivors": ["lender-a", "lender-d", "lender-e"]}
    )
    assert refused.status_code == 409
    assert "3 members left, 4 needed" in refused.json()["detail"]
    # the best split now: b "dropped" for c, d, e; b told everyone survived
    dropped_b = ["lender-a", "lender-c", "lender-d", "lender-e"]
    agreed = {"lender-a": sign(dropped_b)}
    for member, name in ((c, "lender-c"), (d, "lender-d"), (e, "lender-e")):
        answer = signed_step(a, member, round_id, "consistency", {"survivors": dropped_b})
        assert answer.status_code == 200, answer.text
        agreed[name] = answer.json()["consistency_signature"]
        # one list per round: the same list again is the same answer, another one is refused
        again = signed_step(a, member, round_id, "consistency", {"survivors": dropped_b})
        assert again.status_code == 200, again.text
        other = signed_step(a, member, round_id, "consistency", {"survivors": ids})
        assert other.status_code == 409
        assert "another survivors list" in other.json()["detail"]
    answer = signed_step(a, b, round_id, "consistency", {"survivors": ids})
    assert answer.status_code == 200, answer.text
    with_b = {"lender-a": sign(ids), "lender-b": answer.json()["consistency_signature"]}
    # b is asked to reveal with its list: signed by a and b only, the others' signatures on
    # the other list, or a's own signature under their names — all refused
    forged = {name: sign(ids) for name in ids[2:]}
    for extra in ({}, {n: agreed[n] for n in ids[2:]}, forged):
        refused = signed_step(
            a, b, round_id, "unmask", {"survivors": ids, "signatures": with_b | extra}
        )
        assert refused.status_code == 409, refused.text
        assert "2 members signed the survivors list, 4 needed" in refused.json()["detail"]
    assert state_of(b) == ["consistency"]
    # c is asked to reveal for b's list: not the list it signed
    refused = signed_step(a, c, round_id, "unmask", {"survivors": ids, "signatures": with_b})
    assert refused.status_code == 409
    assert "not the one this member signed" in refused.json()["detail"]
    # c, d, e reveal for the list they signed: shares of s_b, none of b_b
    b_self_mask_shares = {"lender-a"}
    s_key_shares = {"lender-a"}
    for member, name in ((c, "lender-c"), (d, "lender-d"), (e, "lender-e")):
        answer = signed_step(
            a, member, round_id, "unmask", {"survivors": dropped_b, "signatures": agreed}
        )
        assert answer.status_code == 200, answer.text
        reveal = secagg.Reveal.from_json(answer.json()["reveal"])
        assert "lender-b" not in reveal.b_shares
        assert "lender-b" in reveal.s_shares
        s_key_shares.add(name)
    assert len(s_key_shares) >= roster.threshold
    assert len(b_self_mask_shares) < roster.threshold  # b's self-mask cannot be removed
