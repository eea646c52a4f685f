"""The alliance over HTTP between real servers: members, the list, PSI and lookups, and the
records each side keeps (counts, never identifiers)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from alliance.served_members import ADMIN, Member, alliance, eventually, served_member
from lendguard.alliance import canonical
from lendguard.auth.audit import AuditEntry
from lendguard.models.alliance import AllianceExchange, AllianceListEntry, AllianceNonce

MOBILES = ["13812345678", "13912345678", "13712345678", "13612345678"]


def resident_id(first17: str) -> str:
    return first17 + canonical.resident_id_check_char(first17)


def luhn(prefix: str) -> str:
    for digit in "0123456789":
        if canonical.luhn_valid(prefix + digit):
            return prefix + digit
    raise AssertionError("unreachable")


CARD = luhn("622202000000000")
RESIDENT = resident_id("11010519491231002")


@pytest.fixture
def trio(sqlite_template: Path, tmp_path: Path) -> Iterator[list[Member]]:
    with alliance(sqlite_template, tmp_path, "lender-a", "lender-b", "lender-c") as members:
        yield members


@pytest.fixture
def pair(sqlite_template: Path, tmp_path: Path) -> Iterator[list[Member]]:
    with alliance(sqlite_template, tmp_path, "lender-a", "lender-b") as members:
        yield members


def nonces(member: Member) -> int:
    """Signed requests this member received (one nonce row each)."""
    with member.services.decisions.db.connect() as conn:
        return len(conn.execute(select(AllianceNonce.nonce)).all())


def exchanges(member: Member) -> list[AllianceExchange]:
    engine = member.services.decisions.db
    with engine.connect() as conn:
        return list(conn.execute(select(AllianceExchange)).all())  # type: ignore[arg-type]


def audit_actions(member: Member) -> list[str]:
    with member.services.decisions.db.connect() as conn:
        return list(conn.execute(select(AuditEntry.action)).scalars())


# -- identity and members --------------------------------------------------------------------------


def test_identity_and_members(pair: list[Member]) -> None:
    a, b = pair
    identity = a.identity()
    assert identity["configured"] is True
    assert identity["member_id"] == "lender-a"
    assert len(identity["public_key"]) == 44
    members = a.get("/v1/alliance/members").json()["members"]
    assert [m["member_id"] for m in members] == ["lender-b"]
    assert members[0]["public_key"] == b.identity()["public_key"]
    again = a.http.post(
        "/v1/alliance/members",
        json={
            "member_id": "lender-b",
            "name": "B",
            "url": b.base,
            "public_key": members[0]["public_key"],
        },
        headers=ADMIN,
    )
    assert again.status_code == 409
    removed = a.http.delete("/v1/alliance/members/lender-b", headers=ADMIN)
    assert removed.status_code == 200
    assert removed.json()["status"] == "removed"
    assert a.http.delete("/v1/alliance/members/nobody", headers=ADMIN).status_code == 404
    assert "alliance.member.add" in audit_actions(a)
    assert "alliance.member.remove" in audit_actions(a)
    # b's requests are refused by a now: a PSI from b fails with a's 401, relayed as 502
    b.add_entry("mobile", MOBILES[0])
    refused = b.post(
        "/v1/alliance/psi",
        {"peer": "lender-a", "list_kind": "mobile", "mode": "cardinality"},
        "alliance:write",
    )
    assert refused.status_code == 502, refused.text
    assert "401" in refused.json()["detail"]


def test_a_member_key_must_be_an_ed25519_key(pair: list[Member]) -> None:
    a, _b = pair
    response = a.http.post(
        "/v1/alliance/members",
        json={
            "member_id": "lender-x",
            "name": "X",
            "url": "https://x.example",
            "public_key": "A" * 43 + "=",  # 32 bytes, not a point? accepted by length only
        },
        headers=ADMIN,
    )
    # any 32 bytes decode as an Ed25519 public key; a wrong length does not
    assert response.status_code in (201, 422)
    short = a.http.post(
        "/v1/alliance/members",
        json={
            "member_id": "lender-y",
            "name": "Y",
            "url": "https://y.example",
            "public_key": "QUJD" * 10,
        },
        headers=ADMIN,
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "public_key"


# -- the list --------------------------------------------------------------------------------------


def test_list_entries_are_canonical_unique_and_never_in_clear(pair: list[Member]) -> None:
    a, _b = pair
    first = a.post(
        "/v1/alliance/list/entries",
        {"kind": "mobile", "value": "13812345678", "reason": "confirmed_fraud"},
        "alliance:write",
    )
    assert first.status_code == 201, first.text
    assert first.json()["masked"] == canonical.mask("mobile", "+8613812345678")
    same = a.post(
        "/v1/alliance/list/entries",
        {"kind": "mobile", "value": "+86 138-1234-5678", "reason": "mule_account"},
        "alliance:write",
    )
    assert same.status_code == 200
    assert same.json()["id"] == first.json()["id"]
    assert same.json()["created"] is False
    bad = a.post(
        "/v1/alliance/list/entries",
        {"kind": "resident_id", "value": "110105194912310021", "reason": "confirmed_fraud"},
        "alliance:write",
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "value"
    a.add_entry("card", CARD)
    a.add_entry("resident_id", RESIDENT)
    summary = a.get("/v1/alliance/list", "alliance:read").json()
    assert summary["counts"] == {"resident_id": 1, "mobile": 1, "card": 1, "device_id": 0}
    assert summary["total"] == 3
    with a.services.decisions.db.connect() as conn:
        rows = conn.execute(select(AllianceListEntry)).all()
    assert len(rows) == 3
    for row in rows:
        assert "13812345678" not in str(tuple(row))
        assert CARD not in str(tuple(row))
    database = Path(str(a.services.settings.database_url).removeprefix("sqlite:///")).read_bytes()
    for clear in (b"13812345678", CARD.encode(), RESIDENT.encode()):
        assert clear not in database
    removed = a.post(
        "/v1/alliance/list/entries/remove",
        {"kind": "mobile", "value": "138 1234 5678"},
        "alliance:write",
    )
    assert removed.status_code == 200
    assert removed.json()["removed_at"] is not None
    assert a.get("/v1/alliance/list", "alliance:read").json()["counts"]["mobile"] == 0
    readded = a.add_entry("mobile", MOBILES[0])
    assert readded["id"] == first.json()["id"]
    assert readded["removed_at"] is None
    by_id = a.post(
        "/v1/alliance/list/entries/remove", {"entry_id": readded["id"]}, "alliance:write"
    )
    assert by_id.status_code == 200
    missing = a.post("/v1/alliance/list/entries/remove", {"entry_id": 999}, "alliance:write")
    assert missing.status_code == 404
    assert {"alliance.list.add", "alliance.list.remove"} <= set(audit_actions(a))


# -- PSI -------------------------------------------------------------------------------------------


def test_psi_intersection_and_cardinality(pair: list[Member]) -> None:
    a, b = pair
    ids = {value: a.add_entry("mobile", value)["id"] for value in MOBILES[:3]}
    for value in MOBILES[1:]:
        b.add_entry("mobile", value)
    response = a.post(
        "/v1/alliance/psi",
        {"peer": "lender-b", "list_kind": "mobile", "mode": "intersection"},
        "alliance:write",
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["count"] == 2
    assert result["items"] == 3
    assert result["peer_items"] == 3
    assert sorted(m["id"] for m in result["matched"]) == sorted(ids[v] for v in MOBILES[1:3])
    assert all("****" in m["masked"] for m in result["matched"])
    count = a.post(
        "/v1/alliance/psi",
        {"peer": "lender-b", "list_kind": "mobile", "mode": "cardinality"},
        "alliance:write",
    ).json()
    assert count["count"] == 2
    assert count["matched"] is None
    mine = [e for e in exchanges(a) if e.kind == "psi"]
    theirs = [e for e in exchanges(b) if e.kind == "psi"]
    assert {(e.role, e.mode, e.items, e.peer_items, e.matched) for e in mine} == {
        ("requester", "intersection", 3, 3, 2),
        ("requester", "cardinality", 3, 3, 2),
    }
    assert {(e.role, e.items, e.peer_items, e.matched) for e in theirs} == {
        ("responder", 3, 3, None)
    }
    assert {e.session_id for e in mine} == {e.session_id for e in theirs}
    for e in mine + theirs:
        assert e.purpose == "anti_fraud"
        assert "PIPL" in e.legal_basis
        assert e.status == "done"
    assert "alliance.psi.requester" in audit_actions(a)
    assert "alliance.psi.responder" in audit_actions(b)
    history = a.get("/v1/alliance/exchanges", "alliance:read", kind="psi").json()
    assert [x["mode"] for x in history["exchanges"]] == ["cardinality", "intersection"]


def test_psi_with_an_empty_list_matches_nothing(pair: list[Member]) -> None:
    a, b = pair
    b.add_entry("card", CARD)
    result = a.post(
        "/v1/alliance/psi",
        {"peer": "lender-b", "list_kind": "card", "mode": "intersection"},
        "alliance:write",
    ).json()
    assert (result["count"], result["matched"], result["peer_items"]) == (0, [], 1)


def test_psi_over_the_members_hourly_limit_is_429(sqlite_template: Path, tmp_path: Path) -> None:
    with alliance(sqlite_template, tmp_path, "lender-a", "lender-b", alliance_psi_per_hour=1) as (
        a,
        b,
    ):
        a.add_entry("mobile", MOBILES[0])
        body = {"peer": "lender-b", "list_kind": "mobile", "mode": "cardinality"}
        assert a.post("/v1/alliance/psi", body, "alliance:write").status_code == 200
        refused = a.post("/v1/alliance/psi", body, "alliance:write")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert len([e for e in exchanges(b) if e.kind == "psi"]) == 1
        failed = [e for e in exchanges(a) if e.status == "failed"]
        assert [e.detail["reason"] for e in failed] == ["refused_429"]


def test_psi_with_an_unknown_peer_is_422(pair: list[Member]) -> None:
    a, _b = pair
    response = a.post(
        "/v1/alliance/psi",
        {"peer": "lender-z", "list_kind": "mobile", "mode": "cardinality"},
        "alliance:write",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "peer"
    assert exchanges(a) == []


# -- lookups ---------------------------------------------------------------------------------------


def test_lookup_asks_every_member(trio: list[Member]) -> None:
    a, b, c = trio
    b.add_entry("mobile", MOBILES[1])
    b.add_entry("mobile", MOBILES[2])
    c.add_entry("card", CARD)
    c.add_entry("device_id", "Device-1")
    body = {
        "customer_id": "cust-42",
        "identifiers": [
            {"kind": "mobile", "value": "+86 139 1234 5678"},
            {"kind": "card", "value": CARD},
            {"kind": "resident_id", "value": RESIDENT},
        ],
    }
    response = a.post("/v1/alliance/lookups", body, "alliance:lookup")
    assert response.status_code == 200, response.text
    result = response.json()
    assert sorted((h["member"], h["kind"]) for h in result["hits"]) == [
        ("lender-b", "mobile"),
        ("lender-c", "card"),
    ]
    assert result["members_asked"] == ["lender-b", "lender-c"]
    assert result["unavailable"] == []
    assert result["signal"] == {"alliance_hit": ["card", "mobile"]}
    mine = sorted(exchanges(a), key=lambda e: e.peer)
    assert [(e.peer, e.role, e.items, e.matched) for e in mine] == [
        ("lender-b", "requester", 3, 1),
        ("lender-c", "requester", 3, 1),
    ]
    digest = a.services.alliance.customer_digest("cust-42")
    assert all(e.detail["customer"] == digest for e in mine)
    assert all("cust-42" not in str(e.detail) for e in mine)
    # one signed request per member carried the three identifiers: one nonce, one row there,
    # with how many, their kinds and the buckets' sizes only (never a bucket)
    theirs = eventually(lambda: exchanges(b), lambda rows: len(rows) >= 1)
    assert [(e.role, e.items, e.matched, e.list_kind) for e in theirs] == [
        ("responder", 3, None, None)
    ]
    assert set(theirs[0].detail) == {"kinds", "bucket_sizes"}
    assert theirs[0].detail["kinds"] == ["card", "mobile", "resident_id"]
    assert [isinstance(n, int) for n in theirs[0].detail["bucket_sizes"]] == [True] * 3
    assert sum(theirs[0].detail["bucket_sizes"]) <= 2
    assert nonces(b) == 1
    assert len(eventually(lambda: exchanges(c), lambda rows: len(rows) >= 1)) == 1
    miss = a.post(
        "/v1/alliance/lookups",
        {"identifiers": [{"kind": "device_id", "value": "device-2"}]},
        "alliance:lookup",
    ).json()
    assert miss["hits"] == []
    assert miss["signal"] == {"alliance_hit": []}
    hit = a.post(
        "/v1/alliance/lookups",
        {"identifiers": [{"kind": "device_id", "value": " DEVICE-1 "}]},
        "alliance:lookup",
    ).json()
    assert hit["hits"] == [{"member": "lender-c", "kind": "device_id"}]


def test_the_lookup_index_follows_the_list(pair: list[Member]) -> None:
    a, b = pair
    body = {"identifiers": [{"kind": "mobile", "value": MOBILES[3]}]}
    assert a.post("/v1/alliance/lookups", body, "alliance:lookup").json()["hits"] == []
    b.add_entry("mobile", MOBILES[3])
    assert a.post("/v1/alliance/lookups", body, "alliance:lookup").json()["hits"] == [
        {"member": "lender-b", "kind": "mobile"}
    ]
    b.post(
        "/v1/alliance/list/entries/remove",
        {"kind": "mobile", "value": MOBILES[3]},
        "alliance:write",
    )
    assert a.post("/v1/alliance/lookups", body, "alliance:lookup").json()["hits"] == []


def test_an_unreachable_member_is_listed_not_a_500(pair: list[Member]) -> None:
    a, b = pair
    b.add_entry("mobile", MOBILES[0])
    response = a.http.post(
        "/v1/alliance/members",
        json={
            "member_id": "lender-gone",
            "name": "Gone",
            "url": "http://127.0.0.1:9",
            "public_key": b.identity()["public_key"],
        },
        headers=ADMIN,
    )
    assert response.status_code == 201
    result = a.post(
        "/v1/alliance/lookups",
        {"identifiers": [{"kind": "mobile", "value": MOBILES[0]}]},
        "alliance:lookup",
    )
    assert result.status_code == 200
    assert result.json()["unavailable"] == ["lender-gone"]
    assert result.json()["hits"] == [{"member": "lender-b", "kind": "mobile"}]
    failed = [e for e in exchanges(a) if e.status == "failed"]
    assert [e.peer for e in failed] == ["lender-gone"]


def test_lookups_over_the_members_limit_are_unavailable(
    sqlite_template: Path, tmp_path: Path
) -> None:
    with alliance(
        sqlite_template, tmp_path, "lender-a", "lender-b", alliance_lookups_per_minute=1
    ) as (a, _b):
        body = {"identifiers": [{"kind": "mobile", "value": MOBILES[0]}]}
        assert a.post("/v1/alliance/lookups", body, "alliance:lookup").json()["unavailable"] == []
        second = a.post("/v1/alliance/lookups", body, "alliance:lookup").json()
        assert second["unavailable"] == ["lender-b"]
        reasons = [e.detail.get("reason") for e in exchanges(a) if e.status == "failed"]
        assert reasons == ["refused:429"]


@pytest.mark.parametrize(
    "answer",
    [
        {"answers": []},
        {"answers": "AAAA"},
        {"answers": [{"evaluated": "!!", "tags": ""}, {"evaluated": "", "tags": ""}]},
        {"answers": [["not", "an", "object"], {}]},
        {},
    ],
)
def test_a_malformed_answer_lists_the_member_unavailable(
    pair: list[Member], monkeypatch: pytest.MonkeyPatch, answer: dict[str, object]
) -> None:
    """A member answering the wrong number of answers, or garbage, is unavailable (its row
    failed, reason bad_answer), never a 500 and never a hit."""
    a, _b = pair
    client = a.services.alliance.client
    assert client is not None

    async def post(*_args: object, **_kwargs: object) -> dict[str, object]:
        return answer

    monkeypatch.setattr(client, "post", post)
    body = {
        "identifiers": [
            {"kind": "mobile", "value": MOBILES[0]},
            {"kind": "card", "value": CARD},
        ]
    }
    response = a.post("/v1/alliance/lookups", body, "alliance:lookup")
    assert response.status_code == 200, response.text
    assert response.json()["unavailable"] == ["lender-b"]
    assert response.json()["hits"] == []
    assert [e.detail.get("reason") for e in exchanges(a)] == ["bad_answer"]


def test_the_members_limit_counts_identifiers(sqlite_template: Path, tmp_path: Path) -> None:
    """One token per identifier asked, however many share a request: four pass on a limit of
    four, the next identifier is refused (the asker lists the member as unavailable)."""
    with alliance(
        sqlite_template, tmp_path, "lender-a", "lender-b", alliance_lookups_per_minute=4
    ) as (a, b):
        b.add_entry("mobile", MOBILES[2])
        four = {"identifiers": [{"kind": "mobile", "value": MOBILES[i]} for i in range(4)]}
        first = a.post("/v1/alliance/lookups", four, "alliance:lookup").json()
        assert first["unavailable"] == []
        assert first["hits"] == [{"member": "lender-b", "kind": "mobile"}]
        one = {"identifiers": [{"kind": "mobile", "value": MOBILES[0]}]}
        second = a.post("/v1/alliance/lookups", one, "alliance:lookup").json()
        assert second["unavailable"] == ["lender-b"]
        theirs = eventually(lambda: exchanges(b), lambda rows: len(rows) >= 1)
        assert [(e.items, e.list_kind, e.detail["kinds"]) for e in theirs] == [
            (4, "mobile", ["mobile"])
        ]


# -- history ---------------------------------------------------------------------------------------


def test_exchanges_newest_first_with_filters_and_paging(pair: list[Member]) -> None:
    a, b = pair
    b.add_entry("mobile", MOBILES[0])
    a.add_entry("mobile", MOBILES[0])
    for _ in range(3):
        a.post(
            "/v1/alliance/lookups",
            {"identifiers": [{"kind": "mobile", "value": MOBILES[0]}]},
            "alliance:lookup",
        )
    a.post(
        "/v1/alliance/psi",
        {"peer": "lender-b", "list_kind": "mobile", "mode": "cardinality"},
        "alliance:write",
    )
    every = a.get("/v1/alliance/exchanges", "alliance:read").json()
    assert [x["kind"] for x in every["exchanges"]] == ["psi", "lookup", "lookup", "lookup"]
    assert every["next_offset"] is None
    page = a.get("/v1/alliance/exchanges", "alliance:read", limit=2).json()
    assert len(page["exchanges"]) == 2
    assert page["next_offset"] == 2
    rest = a.get("/v1/alliance/exchanges", "alliance:read", limit=2, offset=2).json()
    assert [x["id"] for x in page["exchanges"] + rest["exchanges"]] == [
        x["id"] for x in every["exchanges"]
    ]
    assert (
        len(a.get("/v1/alliance/exchanges", "alliance:read", kind="lookup").json()["exchanges"])
        == 3
    )
    assert (
        a.get("/v1/alliance/exchanges", "alliance:read", peer="lender-x").json()["exchanges"] == []
    )
    newest = every["exchanges"][0]["started_at"]
    since = a.get("/v1/alliance/exchanges", "alliance:read", since=newest).json()["exchanges"]
    assert [x["kind"] for x in since] == ["psi"]


# -- not configured, keys and scopes ---------------------------------------------------------------

ROUTES = [
    ("GET", "/v1/alliance/members", "admin"),
    ("POST", "/v1/alliance/members", "admin"),
    ("DELETE", "/v1/alliance/members/lender-b", "admin"),
    ("GET", "/v1/alliance/list", "alliance:read"),
    ("POST", "/v1/alliance/list/entries", "alliance:write"),
    ("POST", "/v1/alliance/list/entries/remove", "alliance:write"),
    ("POST", "/v1/alliance/psi", "alliance:write"),
    ("POST", "/v1/alliance/lookups", "alliance:lookup"),
    ("GET", "/v1/alliance/exchanges", "alliance:read"),
]


def test_not_configured_is_503_with_retry_after(sqlite_template: Path, tmp_path: Path) -> None:
    with served_member(sqlite_template, tmp_path, None) as off:
        identity = off.http.get("/v1/alliance/identity", headers=ADMIN)
        assert identity.status_code == 200
        assert identity.json()["configured"] is False
        assert set(identity.json()["message"]) == {"zh-CN", "en"}
        for method, path, _scope in ROUTES:
            response = off.http.request(method, path, headers=ADMIN, json={})
            assert response.status_code == 503, (method, path, response.text)
            assert int(response.headers["Retry-After"]) >= 1
            assert "not configured" in response.json()["detail"]
        for path in ("/v1/alliance/peer/psi", "/v1/alliance/peer/lookup"):
            response = off.http.post(path, json={})
            assert response.status_code == 503
            assert "Retry-After" in response.headers


def test_every_route_wants_a_key_with_its_scope(pair: list[Member]) -> None:
    a, _b = pair
    for method, path, scope in [*ROUTES, ("GET", "/v1/alliance/identity", "admin")]:
        assert a.http.request(method, path, json={}).status_code == 401, (method, path)
        other = "decisions:read" if scope != "decisions:read" else "alliance:read"
        wrong = [s for s in ("alliance:read", "alliance:write", "alliance:lookup") if s != scope]
        for lacking in [other, *wrong]:
            response = a.http.request(method, path, json={}, headers=a.key(lacking))
            assert response.status_code == 403, (method, path, lacking, response.text)
    # peer routes want a member's signature
    for path in ("/v1/alliance/peer/psi", "/v1/alliance/peer/lookup"):
        response = a.http.post(path, json={}, headers=ADMIN)
        assert response.status_code == 401


def test_one_identifier_added_at_once_in_several_spellings_is_one_entry(
    pair: list[Member],
) -> None:
    a, _b = pair
    spellings = ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "86 13812345678"] * 2
    headers = a.key("alliance:write")

    def add(value: str) -> int:
        body = {"kind": "mobile", "value": value, "reason": "confirmed_fraud"}
        return a.http.post("/v1/alliance/list/entries", json=body, headers=headers).status_code

    with ThreadPoolExecutor(len(spellings)) as pool:
        statuses = list(pool.map(add, spellings))
    assert sorted(statuses) == [200] * (len(spellings) - 1) + [201]
    with a.services.decisions.db.connect() as conn:
        assert len(conn.execute(select(AllianceListEntry)).all()) == 1
