"""Signed peer requests between alliance members (Ed25519 keys, configured by both sides).

Every peer request carries four headers — the sender's member id, a unix timestamp, a fresh
32-hex nonce and an Ed25519 signature over::

    b"lendguard-alliance-v1\\n" METHOD \\n PATH \\n member \\n timestamp \\n nonce \\n sha256(body)

The receiver (:func:`verified_peer`) accepts it only if the member is configured and active,
the clock skew is at most :data:`MAX_SKEW_S`, the signature verifies under the member's key
and the nonce was never seen (an :class:`AllianceNonce` row, insert-or-refuse: a replay is
refused in every process sharing the database). The nonce is stored only after the signature
verifies, so a stranger cannot fill the table; nonces older than twice the skew window are
pruned (a request that old is refused by its timestamp anyway).

Answers are signed too (:func:`signed_response`), over the request's nonce, the status and the
body's hash, so an answer cannot be replayed onto another request or altered on the way; the
client (:class:`PeerClient`) refuses an unsigned or wrongly signed success.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request, Response
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from lendguard.alliance import group
from lendguard.config import Settings
from lendguard.errors import FieldError, LendGuardError, ServiceUnavailable, Unauthorized
from lendguard.models.alliance import AllianceMember, AllianceNonce

Clock = Callable[[], float]

MEMBER_HEADER = "LendGuard-Alliance-Member"
TIMESTAMP_HEADER = "LendGuard-Alliance-Timestamp"
NONCE_HEADER = "LendGuard-Alliance-Nonce"
SIGNATURE_HEADER = "LendGuard-Alliance-Signature"
REQUEST_DOMAIN = b"lendguard-alliance-v1"
RESPONSE_DOMAIN = b"lendguard-alliance-v1-response"
# A request whose timestamp is further than this from the receiver's clock is refused.
MAX_SKEW_S = 300
# Nonces are kept this long (a request older than the skew window is refused by its time).
NONCE_KEEP_S = 2 * MAX_SKEW_S
# How often a verifier prunes old nonces (seconds).
PRUNE_EVERY_S = 60.0
PEER_PATH_PREFIX = "/v1/alliance/peer/"
NOT_CONFIGURED = "alliance not configured / 联盟未配置"
# Seconds a caller should wait before asking an unconfigured alliance again.
NOT_CONFIGURED_RETRY_S = 3600

_NONCE = re.compile(r"^[0-9a-f]{32}$")
_MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _hkdf(seed: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA512(), length=length, salt=None, info=info).derive(seed)


def request_message(
    method: str, path: str, member: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """The bytes a peer request's signature covers."""
    return b"\n".join(
        (
            REQUEST_DOMAIN,
            method.upper().encode(),
            path.encode(),
            member.encode(),
            timestamp.encode(),
            nonce.encode(),
            hashlib.sha256(body).hexdigest().encode(),
        )
    )


def response_message(nonce: str, status: int, body: bytes) -> bytes:
    """The bytes an answer's signature covers (bound to the request by its nonce)."""
    return b"\n".join(
        (
            RESPONSE_DOMAIN,
            nonce.encode(),
            str(status).encode(),
            hashlib.sha256(body).hexdigest().encode(),
        )
    )


def public_key_from(text: str) -> Ed25519PublicKey:
    """A member's public key from its base64 (32 bytes); ValueError otherwise."""
    try:
        raw = _b64decode(text)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError("the public key is not base64") from exc
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def valid_member_id(text: str) -> bool:
    return bool(_MEMBER_ID.match(text))


class Identity:
    """This lender's alliance identity: its member id and Ed25519 signing key (a 32-byte seed
    from the secret store). Every other secret of the alliance is derived from the seed."""

    def __init__(self, member_id: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("the alliance signing key is a 32-byte seed")
        self.member_id = member_id
        self._seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        raw = self._key.public_key().public_bytes_raw()
        self.public_key_b64 = base64.b64encode(raw).decode()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def lookup_scalar(self, epoch: str) -> bytes:
        """The long-lived OPRF key of the lookups in ``epoch`` (another epoch, another key)."""
        seed = _hkdf(self._seed, b"lendguard-alliance-lookup-v1|" + epoch.encode(), 64)
        return group.scalar_from_seed(seed)

    def seal_key(self, purpose: str) -> bytes:
        """A 32-byte key for sealing this member's own state for ``purpose``."""
        return _hkdf(self._seed, b"lendguard-alliance-seal-v1|" + purpose.encode(), 32)

    def __repr__(self) -> str:  # never the seed
        return f"Identity(member_id={self.member_id!r})"


def identity_from(settings: Settings) -> Identity | None:
    """The identity the settings configure, or None when the alliance is off (either unset).
    A malformed key raises ValueError (start-up refuses it rather than running half-set)."""
    if not settings.alliance_member_id or not settings.alliance_signing_key:
        return None
    if not valid_member_id(settings.alliance_member_id):
        raise ValueError("LENDGUARD_ALLIANCE_MEMBER_ID: letters, digits, '.', '_' or '-'")
    try:
        seed = _b64decode(settings.alliance_signing_key)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError("LENDGUARD_ALLIANCE_SIGNING_KEY is not base64") from exc
    return Identity(settings.alliance_member_id, seed)


def new_nonce() -> str:
    return secrets.token_hex(16)


def signed_headers(
    identity: Identity, method: str, path: str, body: bytes, *, now: float, nonce: str | None = None
) -> dict[str, str]:
    """The four headers of a signed peer request."""
    nonce = nonce or new_nonce()
    timestamp = str(int(now))
    signature = identity.sign(
        request_message(method, path, identity.member_id, timestamp, nonce, body)
    )
    return {
        MEMBER_HEADER: identity.member_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
    }


@dataclass(frozen=True, slots=True)
class _Peer:
    member_id: str
    url: str
    key: Ed25519PublicKey | None
    active: bool


class MemberDirectory:
    """The configured members, read from the database at most every ``ttl_s`` seconds (a
    change made through this process's service is seen at once: :meth:`invalidate`; one made
    by another process within ``ttl_s``). Spares each peer request its own query on the hot
    path, and a flood of unknown member ids costs no query at all."""

    def __init__(self, engine: Engine, ttl_s: float = 1.0) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._members: dict[str, _Peer] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None

    def get(self, member_id: str) -> _Peer | None:
        now = time.monotonic()
        with self._lock:
            fresh = self._loaded_at is not None and now - self._loaded_at < self.ttl_s
            if fresh:
                return self._members.get(member_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    AllianceMember.member_id,
                    AllianceMember.url,
                    AllianceMember.public_key,
                    AllianceMember.status,
                )
            ).all()
        members = {}
        for row in rows:
            try:
                key: Ed25519PublicKey | None = public_key_from(row.public_key)
            except ValueError:
                key = None
            members[row.member_id] = _Peer(
                row.member_id, row.url.rstrip("/"), key, row.status == "active"
            )
        with self._lock:
            self._members = members
            self._loaded_at = now
        return members.get(member_id)


@dataclass(frozen=True, slots=True)
class PeerCaller:
    """A verified peer request: who sent it and its nonce (to sign the answer with)."""

    member_id: str
    nonce: str


def _refused(detail: str, header: str) -> Unauthorized:
    return Unauthorized(
        f"peer request refused: {detail}", errors=[FieldError(f"header.{header}", detail)]
    )


@dataclass
class PeerGate:
    """The receiving side's checks (one per process; thread-safe)."""

    identity: Identity
    engine: Engine
    clock: Clock = time.time
    directory: MemberDirectory | None = None
    _last_prune: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def verify(
        self, method: str, path: str, headers: dict[str, str] | Any, body: bytes
    ) -> PeerCaller:
        """The caller, or :class:`Unauthorized` naming the header at fault. Blocking (the
        database): call from a worker thread."""
        member = headers.get(MEMBER_HEADER) or ""
        timestamp = headers.get(TIMESTAMP_HEADER) or ""
        nonce = headers.get(NONCE_HEADER) or ""
        signature_text = headers.get(SIGNATURE_HEADER) or ""
        for name, value in (
            (MEMBER_HEADER, member),
            (TIMESTAMP_HEADER, timestamp),
            (NONCE_HEADER, nonce),
            (SIGNATURE_HEADER, signature_text),
        ):
            if not value:
                raise _refused("missing", name)
        if not valid_member_id(member):
            raise _refused("not a member id", MEMBER_HEADER)
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise _refused("not unix seconds", TIMESTAMP_HEADER)
        if not _NONCE.match(nonce):
            raise _refused("32 lower-case hex digits expected", NONCE_HEADER)
        try:
            signature = _b64decode(signature_text)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise _refused("not base64", SIGNATURE_HEADER) from None
        now = self.clock()
        if abs(now - int(timestamp)) > MAX_SKEW_S:
            raise _refused(f"clock skew over {MAX_SKEW_S} s", TIMESTAMP_HEADER)
        if self.directory is None:
            self.directory = MemberDirectory(self.engine)
        found = self.directory.get(member)
        if found is None or not found.active:
            raise _refused("unknown or removed member", MEMBER_HEADER)
        try:
            if found.key is None:
                raise ValueError("malformed key")
            message = request_message(method, path, member, timestamp, nonce, body)
            found.key.verify(signature, message)
        except (InvalidSignature, ValueError):
            raise _refused("bad signature", SIGNATURE_HEADER) from None
        self._remember(member, nonce, now)
        return PeerCaller(member_id=member, nonce=nonce)

    def _remember(self, member: str, nonce: str, now: float) -> None:
        at = datetime.fromtimestamp(now, UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(AllianceNonce).values(member_id=member, nonce=nonce, seen_at=at)
                )
        except IntegrityError:
            raise _refused("replayed", NONCE_HEADER) from None
        with self._lock:
            due = now - self._last_prune >= PRUNE_EVERY_S
            if due:
                self._last_prune = now
        if due:
            self.prune(now)

    def prune(self, now: float) -> int:
        """Forget nonces older than :data:`NONCE_KEEP_S`; the number forgotten."""
        cutoff = datetime.fromtimestamp(now, UTC) - timedelta(seconds=NONCE_KEEP_S)
        with self.engine.begin() as conn:
            return int(
                conn.execute(delete(AllianceNonce).where(AllianceNonce.seen_at < cutoff)).rowcount
                or 0
            )


def peer_body_limit(settings: Any) -> int:
    return int(getattr(settings, "alliance_max_body_bytes", 96_000_000))


async def _read_limited(request: Request, limit: int) -> bytes:
    from lendguard.web.body import too_large

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    # Later readers of the request (a JSON body dependency) get the same bytes.
    request._body = body
    return body


def gate_of(request: Request) -> PeerGate:
    """This app's gate; 503 with Retry-After when the alliance is not configured."""
    services = request.app.state.services
    alliance = getattr(services, "alliance", None)
    gate = getattr(alliance, "gate", None)
    if gate is None:
        raise ServiceUnavailable(NOT_CONFIGURED, retry_after=NOT_CONFIGURED_RETRY_S)
    assert isinstance(gate, PeerGate)
    return gate


async def verified_peer(request: Request) -> PeerCaller:
    """FastAPI dependency of every peer route: the verified caller, or 401 (503 when the
    alliance is off). Reads the body (up to ``alliance_max_body_bytes``); the route reads it
    again from the request (``await request.body()``) without a second copy."""
    gate = gate_of(request)
    body = await _read_limited(request, peer_body_limit(request.app.state.services.settings))
    path = request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    caller = await run_in_threadpool(gate.verify, request.method, path, request.headers, body)
    request.state.alliance_caller = caller
    return caller


def _signed(gate: PeerGate, caller: PeerCaller, body: bytes, status: int) -> Response:
    signature = gate.identity.sign(response_message(caller.nonce, status, body))
    return Response(
        content=body,
        status_code=status,
        media_type="application/json",
        headers={
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            MEMBER_HEADER: gate.identity.member_id,
        },
    )


def signed_response(
    request: Request, caller: PeerCaller, payload: dict[str, Any], status: int = 200
) -> Response:
    """The JSON answer to a verified peer request, signed over its nonce, status and body."""
    return _signed(gate_of(request), caller, orjson.dumps(payload), status)


def signed_problem(request: Request, caller: PeerCaller, exc: LendGuardError) -> Response:
    """A refusal (429, 422, …) of a verified request as a signed problem document, so the
    requester can tell it from a forgery on the way."""
    payload: dict[str, Any] = {
        "type": "about:blank",
        "title": exc.title,
        "status": exc.status_code,
        "detail": exc.detail,
        "instance": request.url.path,
        "errors": [{"field": e.field, "message": e.message} for e in exc.errors],
    }
    retry = getattr(exc, "retry_after", None)
    response = _signed(gate_of(request), caller, orjson.dumps(payload), exc.status_code)
    response.media_type = "application/problem+json"
    response.headers["content-type"] = "application/problem+json"
    if retry is not None:
        response.headers["Retry-After"] = str(max(1, int(retry)))
    return response


class PeerError(Exception):
    """A peer request did not give a usable answer."""


class PeerUnavailable(PeerError):
    """The member could not be reached, timed out, or is not configured here."""

    def __init__(self, member_id: str, reason: str) -> None:
        super().__init__(f"{member_id}: {reason}")
        self.member_id = member_id
        self.reason = reason


class PeerRefused(PeerError):
    """The member answered with a refusal (``status``, its problem document), or with an
    answer whose signature did not verify (status 502, ``problem["detail"]`` says so).
    ``problem["signed"]`` tells whether the refusal was signed by the member."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class PeerClient:
    """Signed requests to other members, over one pooled HTTP client per event loop."""

    def __init__(
        self,
        identity: Identity,
        engine: Engine,
        clock: Clock = time.time,
        directory: MemberDirectory | None = None,
        max_answer_bytes: int = 96_000_000,
    ) -> None:
        self.identity = identity
        self.engine = engine
        self.clock = clock
        self.directory = directory or MemberDirectory(engine)
        # An answer longer than this is refused as it streams in (a hostile or broken member
        # cannot make this process hold gigabytes): the same bound as a peer request's body.
        self.max_answer_bytes = max_answer_bytes
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}

    def _member(self, member_id: str) -> _Peer:
        found = self.directory.get(member_id)
        if found is None or not found.active:
            raise PeerUnavailable(member_id, "not an active member")
        if found.key is None:
            raise PeerUnavailable(member_id, "its public key is malformed")
        return found

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        found = self._clients.get(id(loop))
        if found is not None and found[0] is loop:
            return found[1]
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            http2=False,
        )
        self._clients[id(loop)] = (loop, client)
        return client

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        found = self._clients.pop(id(loop), None)
        if found is not None:
            await found[1].aclose()

    def _prepare(
        self, member_id: str, path: str, payload: dict[str, Any]
    ) -> tuple[_Peer, bytes, dict[str, str]]:
        peer = self._member(member_id)
        body = orjson.dumps(payload)
        headers = signed_headers(self.identity, "POST", path, body, now=self.clock())
        headers["content-type"] = "application/json"
        return peer, body, headers

    async def post(
        self, member_id: str, path: str, payload: dict[str, Any], timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """POST ``payload`` to ``member_id``'s ``path``, signed; its verified JSON answer.
        Raises :class:`PeerUnavailable` (unreachable, timeout, not configured) or
        :class:`PeerRefused` (a refusal, or an answer that is not properly signed)."""
        if not path.startswith(PEER_PATH_PREFIX):
            raise ValueError(f"peer paths start with {PEER_PATH_PREFIX}")
        peer, body, headers = await asyncio.to_thread(self._prepare, member_id, path, payload)
        try:
            response = await self._fetch(peer.url + path, body, headers, timeout_s)
        except httpx.HTTPError as exc:
            raise PeerUnavailable(member_id, type(exc).__name__) from None
        if response is None:
            raise PeerRefused(
                502,
                {
                    "title": "Bad peer answer",
                    "detail": f"{member_id}'s answer is over {self.max_answer_bytes} bytes",
                    "signed": False,
                },
            )
        return await asyncio.to_thread(self._accept, peer, headers[NONCE_HEADER], response)

    async def _fetch(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> httpx.Response | None:
        """The answer, read up to :attr:`max_answer_bytes`; None when it is longer."""
        limit = self.max_answer_bytes
        async with self._client().stream(
            "POST", url, content=body, headers=headers, timeout=timeout_s
        ) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return None
            chunks: list[bytes] = []
            size = 0
            # decoded bytes: a small compressed answer that inflates past the limit is refused
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        kept = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=kept,
            content=b"".join(chunks),
            request=response.request,
        )

    def _accept(self, peer: _Peer, nonce: str, response: httpx.Response) -> dict[str, Any]:
        assert peer.key is not None
        content = response.content
        signature_text = response.headers.get(SIGNATURE_HEADER, "")
        signed = False
        if signature_text:
            try:
                peer.key.verify(
                    _b64decode(signature_text),
                    response_message(nonce, response.status_code, content),
                )
                signed = True
            except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
                signed = False
        try:
            parsed = orjson.loads(content) if content else {}
        except orjson.JSONDecodeError:
            parsed = None
        if response.is_success:
            if not signed:
                raise PeerRefused(
                    502,
                    {
                        "title": "Bad peer answer",
                        "detail": f"{peer.member_id}'s answer is unsigned or wrongly signed",
                        "signed": False,
                    },
                )
            if not isinstance(parsed, dict):
                raise PeerRefused(
                    502,
                    {"title": "Bad peer answer", "detail": "not a JSON object", "signed": True},
                )
            return parsed
        problem = (
            dict(parsed) if isinstance(parsed, dict) else {"detail": f"HTTP {response.status_code}"}
        )
        problem["signed"] = signed
        if "Retry-After" in response.headers:
            problem["retry_after"] = response.headers["Retry-After"]
        raise PeerRefused(response.status_code, problem)
