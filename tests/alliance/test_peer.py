"""Signed peer requests (alliance/peer.py): the receiver's checks and the client's refusals of
an answer that is not properly signed."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Annotated, Any

import orjson
import pytest
from fastapi import Depends, FastAPI, Request, Response
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from fixtures import PINNED_NOW, served_app
from lendguard.alliance import peer
from lendguard.config import Settings
from lendguard.db import make_engine
from lendguard.errors import LendGuardError
from lendguard.models.alliance import AllianceMember, AllianceNonce
from lendguard.web.responses import problem

NOW = PINNED_NOW.timestamp()
Caller = Annotated[peer.PeerCaller, Depends(peer.verified_peer)]
PATH = "/v1/alliance/peer/echo"


def new_identity(member_id: str) -> peer.Identity:
    return peer.Identity(member_id, secrets.token_bytes(32))


def add_member(engine: Engine, identity: peer.Identity, url: str = "http://127.0.0.1:9") -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(AllianceMember).values(
                member_id=identity.member_id,
                name=identity.member_id,
                url=url,
                public_key=identity.public_key_b64,
                status="active",
                created_at=datetime.now(UTC),
                created_by="test",
            )
        )


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def peer_app(identity: peer.Identity, engine: Engine, clock: Clock) -> FastAPI:
    app = FastAPI()
    # Every request reads the members afresh (a test removes one in the database directly).
    gate = peer.PeerGate(identity, engine, clock, peer.MemberDirectory(engine, ttl_s=0))
    app.state.services = SimpleNamespace(
        settings=Settings(_env_file=None), alliance=SimpleNamespace(gate=gate)
    )

    @app.exception_handler(LendGuardError)
    async def _error(request: Request, exc: LendGuardError) -> Response:
        return problem(
            exc.status_code,
            exc.title,
            exc.detail,
            [{"field": e.field, "message": e.message} for e in exc.errors],
            instance=request.url.path,
        )

    @app.post(PATH)
    async def echo(request: Request, caller: Caller) -> Response:
        body = orjson.loads(await request.body())
        return peer.signed_response(request, caller, {"from": caller.member_id, "echo": body})

    @app.post("/v1/alliance/peer/unsigned")
    async def unsigned(caller: Caller) -> Response:
        return Response(orjson.dumps({"ok": True}), media_type="application/json")

    @app.post("/v1/alliance/peer/forged")
    async def forged(caller: Caller) -> Response:
        other = new_identity("mallory")
        signature = other.sign(peer.response_message(caller.nonce, 200, b'{"ok":true}'))
        return Response(
            b'{"ok":true}',
            media_type="application/json",
            headers={peer.SIGNATURE_HEADER: base64.b64encode(signature).decode()},
        )

    @app.post("/v1/alliance/peer/tampered")
    async def tampered(request: Request, caller: Caller) -> Response:
        response = peer.signed_response(request, caller, {"ok": True})
        response.body = b'{"ok":false}'
        response.headers["content-length"] = str(len(response.body))
        return response

    return app


@pytest.fixture
def engine(sqlite_url: str) -> Engine:
    return make_engine(sqlite_url)


@pytest.fixture
def setup(engine: Engine) -> Iterator[tuple[TestClient, peer.Identity, peer.Identity, Clock]]:
    server = new_identity("lender-a")
    caller = new_identity("lender-b")
    add_member(engine, caller)
    clock = Clock()
    with TestClient(peer_app(server, engine, clock)) as client:
        yield client, server, caller, clock


def signed(
    identity: peer.Identity, body: bytes, *, path: str = PATH, now: float = NOW, nonce: str = ""
) -> dict[str, str]:
    headers = peer.signed_headers(identity, "POST", path, body, now=now, nonce=nonce or None)
    headers["content-type"] = "application/json"
    return headers


def test_a_good_signature_is_accepted_and_the_answer_signed(setup: Any) -> None:
    client, server, caller, _clock = setup
    body = b'{"x": 1}'
    headers = signed(caller, body)
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"from": "lender-b", "echo": {"x": 1}}
    signature = base64.b64decode(response.headers[peer.SIGNATURE_HEADER])
    key = peer.public_key_from(server.public_key_b64)
    key.verify(signature, peer.response_message(headers[peer.NONCE_HEADER], 200, response.content))


def _refused(response: Any, header: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["field"] == f"header.{header}"


def test_a_wrong_key_is_refused(setup: Any) -> None:
    client, _server, _caller, _clock = setup
    impostor = new_identity("lender-b")  # the right member id, another key
    _refused(
        client.post(PATH, content=b"{}", headers=signed(impostor, b"{}")), peer.SIGNATURE_HEADER
    )


def test_an_unknown_or_removed_member_is_refused(setup: Any, engine: Engine) -> None:
    client, _server, caller, _clock = setup
    stranger = new_identity("lender-z")
    _refused(client.post(PATH, content=b"{}", headers=signed(stranger, b"{}")), peer.MEMBER_HEADER)
    with engine.begin() as conn:
        conn.execute(update(AllianceMember).values(status="removed"))
    _refused(client.post(PATH, content=b"{}", headers=signed(caller, b"{}")), peer.MEMBER_HEADER)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_skew_over_300_s_is_refused(setup: Any, skew: int) -> None:
    client, _server, caller, _clock = setup
    headers = signed(caller, b"{}", now=NOW + skew)
    _refused(client.post(PATH, content=b"{}", headers=headers), peer.TIMESTAMP_HEADER)


def test_a_skew_of_300_s_passes(setup: Any) -> None:
    client, _server, caller, _clock = setup
    assert client.post(PATH, content=b"{}", headers=signed(caller, b"{}", now=NOW - 300)).is_success


def test_a_replayed_nonce_is_refused(setup: Any, engine: Engine) -> None:
    client, _server, caller, _clock = setup
    headers = signed(caller, b"{}")
    assert client.post(PATH, content=b"{}", headers=headers).status_code == 200
    _refused(client.post(PATH, content=b"{}", headers=headers), peer.NONCE_HEADER)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AllianceNonce)).scalar_one() == 1


def test_an_unverified_request_leaves_no_nonce(setup: Any, engine: Engine) -> None:
    client, _server, _caller, _clock = setup
    impostor = new_identity("lender-b")
    client.post(PATH, content=b"{}", headers=signed(impostor, b"{}"))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AllianceNonce)).scalar_one() == 0


def test_a_tampered_body_or_path_is_refused(setup: Any) -> None:
    client, _server, caller, _clock = setup
    headers = signed(caller, b'{"x": 1}')
    _refused(client.post(PATH, content=b'{"x": 2}', headers=headers), peer.SIGNATURE_HEADER)
    headers = signed(caller, b"{}", path="/v1/alliance/peer/other")
    _refused(client.post(PATH, content=b"{}", headers=headers), peer.SIGNATURE_HEADER)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (peer.MEMBER_HEADER, ""),
        (peer.MEMBER_HEADER, "a b"),
        (peer.TIMESTAMP_HEADER, "soon"),
        (peer.NONCE_HEADER, "XYZ"),
        (peer.SIGNATURE_HEADER, "!!not base64!!"),
    ],
)
def test_malformed_headers_are_refused_naming_the_header(
    setup: Any, header: str, value: str
) -> None:
    client, _server, caller, _clock = setup
    headers = signed(caller, b"{}")
    headers[header] = value
    _refused(client.post(PATH, content=b"{}", headers=headers), header)


def test_old_nonces_are_pruned(setup: Any, engine: Engine) -> None:
    client, server, caller, clock = setup
    assert client.post(PATH, content=b"{}", headers=signed(caller, b"{}")).status_code == 200
    gate = peer.PeerGate(server, engine, clock)
    assert gate.prune(NOW + peer.NONCE_KEEP_S - 1) == 0
    assert gate.prune(NOW + peer.NONCE_KEEP_S + 1) == 1


def test_unconfigured_alliance_answers_503() -> None:
    app = peer_app(new_identity("x"), make_engine("sqlite://"), Clock())
    app.state.services.alliance = None
    with TestClient(app) as client:
        response = client.post(PATH, content=b"{}")
    assert response.status_code == 503


def test_identity_from_settings() -> None:
    assert peer.identity_from(Settings(_env_file=None)) is None
    seed = secrets.token_bytes(32)
    settings = Settings(
        _env_file=None,
        alliance_member_id="lender-a",
        alliance_signing_key=base64.b64encode(seed).decode(),
    )
    identity = peer.identity_from(settings)
    assert identity is not None
    assert identity.member_id == "lender-a"
    assert len(identity.seal_key("rounds")) == 32
    assert identity.seal_key("rounds") != identity.seal_key("other")
    assert identity.lookup_scalar("1") != identity.lookup_scalar("2")
    assert base64.b64encode(seed).decode() not in repr(identity)
    with pytest.raises(ValueError, match="SIGNING_KEY"):
        peer.identity_from(settings.model_copy(update={"alliance_signing_key": "short"}))


# -- the client over a real HTTP server -----------------------------------------------------------


@pytest.fixture
def served_peer(engine: Engine) -> Iterator[tuple[peer.PeerClient, peer.Identity]]:
    server = new_identity("lender-a")
    caller = new_identity("lender-b")
    add_member(engine, caller)
    with served_app(peer_app(server, engine, Clock(NOW))) as base:
        add_member(engine, server, base)
        yield peer.PeerClient(caller, engine, clock=Clock(NOW)), server


def _post(client: peer.PeerClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        try:
            return await client.post("lender-a", path, payload, timeout_s=5)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_the_client_gets_a_verified_answer(served_peer: Any) -> None:
    client, _server = served_peer
    assert _post(client, PATH, {"n": 3}) == {"from": "lender-b", "echo": {"n": 3}}


@pytest.mark.parametrize("path", ["unsigned", "forged", "tampered"])
def test_the_client_refuses_an_unsigned_or_badly_signed_answer(served_peer: Any, path: str) -> None:
    client, _server = served_peer
    with pytest.raises(peer.PeerRefused) as refused:
        _post(client, f"/v1/alliance/peer/{path}", {})
    assert refused.value.status == 502
    assert refused.value.problem["signed"] is False


def test_the_client_reports_a_refusal(served_peer: Any, engine: Engine) -> None:
    client, _server = served_peer
    with engine.begin() as conn:
        conn.execute(
            update(AllianceMember)
            .where(AllianceMember.member_id == "lender-b")
            .values(status="removed")
        )
    with pytest.raises(peer.PeerRefused) as refused:
        _post(client, PATH, {})
    assert refused.value.status == 401


def test_an_unreachable_or_unknown_member_is_unavailable(engine: Engine) -> None:
    caller = new_identity("lender-b")
    nowhere = new_identity("lender-c")
    add_member(engine, nowhere, "http://127.0.0.1:9")
    client = peer.PeerClient(caller, engine)
    for member in ("lender-c", "lender-x"):

        async def run(member: str = member) -> dict[str, Any]:
            return await client.post(member, PATH, {}, timeout_s=1)

        with pytest.raises(peer.PeerUnavailable):
            asyncio.run(run())


def test_the_member_directory_reads_the_database_at_most_every_ttl(engine: Engine) -> None:
    member = new_identity("lender-b")
    add_member(engine, member)
    directory = peer.MemberDirectory(engine, ttl_s=3600)
    found = directory.get("lender-b")
    assert found is not None
    assert found.active
    with engine.begin() as conn:
        conn.execute(update(AllianceMember).values(status="removed"))
    cached = directory.get("lender-b")
    assert cached is not None
    assert cached.active  # within the ttl: as read
    directory.invalidate()
    removed = directory.get("lender-b")
    assert removed is not None
    assert not removed.active
    assert directory.get("lender-x") is None
