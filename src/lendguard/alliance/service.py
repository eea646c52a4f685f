"""The alliance as this lender runs it: its members, its own list, PSI with one member and the
per-applicant lookup across every member, and the record of each exchange.

What each side keeps (docs/alliance.md has the protocol):

- A list entry: the keyed digest of its canonical value (duplicates; HMAC with the PII key,
  never shared), the value itself only in the vault (encrypted), and a masked form to show.
- An exchange: an :class:`AllianceExchange` row on both sides and an audit entry, counts only.
  A PSI responder records its own list size and the requester's count, never the result (it
  does not learn it). A lookup responder records one row per request (one applicant's
  identifiers, up to four, asked in one signed request): how many, their kinds and the sizes
  of the buckets it answered — not the buckets (16 bits of a hash of each identifier), so
  nothing at rest narrows down who was asked about. It writes that record just after sending
  the answer (a background task of the peer route), off the asker's
  latency; a crash in between loses that one record.
- A lookup requester records, per member, how many identifiers it asked and how many kinds hit
  there; when the request names a customer, the exchange carries that customer id's keyed
  digest (the consent ledger records consents, not processing, so the link lives here).

Blocking work (the database, the group operations) runs in worker threads; the HTTP calls to
members run on the event loop, concurrently: one signed request per member carries every
identifier of the applicant.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lendguard.alliance import canonical, group, psi
from lendguard.alliance import repository as repo
from lendguard.alliance.peer import (
    NOT_CONFIGURED,
    NOT_CONFIGURED_RETRY_S,
    Identity,
    MemberDirectory,
    PeerCaller,
    PeerClient,
    PeerGate,
    PeerRefused,
    PeerUnavailable,
    identity_from,
    public_key_from,
)
from lendguard.alliance.schemas import (
    AllianceListEntryBody,
    AllianceListRemoveBody,
    AllianceLookupBody,
    AllianceMemberBody,
    AlliancePeerLookupBody,
    AlliancePeerPsiBody,
    AlliancePsiBody,
)
from lendguard.auth import audit
from lendguard.auth.ratelimit import RateLimiter, retry_after
from lendguard.config import Settings
from lendguard.errors import (
    Conflict,
    FieldError,
    LendGuardError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from lendguard.kit.ids import new_id
from lendguard.privacy.vault import Vault

Clock = Callable[[], float]

LEGAL_BASIS = (
    "PIPL Art. 13(1)(3) and Art. 23; Anti-Telecom and Online Fraud Law Art. 18 and 31 "
    "(information sharing against fraud)"
)
PURPOSE = "anti_fraud"
PSI_PATH = "/v1/alliance/peer/psi"
LOOKUP_PATH = "/v1/alliance/peer/lookup"
LOOKUP_TIMEOUT_S = 2.0
# How often a lookup index checks whether the list changed in another process (seconds).
INDEX_CHECK_S = 1.0
PSI_TIMEOUT_S = 300.0
# The vault's owner of list values (the list is about people who are not our customers).
LIST_OWNER = "alliance-list"
# The vault kind of each identifier kind.
VAULT_KIND = {
    "resident_id": "identifier",
    "mobile": "phone",
    "card": "card",
    "device_id": "identifier",
}
_TOKEN_PREFIX = "h1:"


class AlliancePeerFailed(LendGuardError):
    """A member answered with something unusable (a bad signature, malformed points)."""

    status_code = 502
    title = "Bad gateway"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_points(text: str, field: str) -> list[bytes]:
    """Concatenated base64 points; 422 naming ``field`` when not base64 or ragged."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValidationFailed(
            "the points are not base64", errors=[FieldError(field, "must be base64")]
        ) from None
    try:
        return group.unpack(raw)
    except group.InvalidPoint:
        raise ValidationFailed(
            "the points are ragged",
            errors=[FieldError(field, "must be whole 32-byte points")],
        ) from None


def _not_points(field: str) -> ValidationFailed:
    return ValidationFailed(
        "not ristretto255 points", errors=[FieldError(field, "holds an invalid point")]
    )


class AllianceService:
    """One per process; thread-safe."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        vault: Vault,
        clock: Clock = time.time,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.vault = vault
        self.clock = clock
        self.identity: Identity | None = identity_from(settings)
        # Shared by the gate and the client; member changes here invalidate it at once.
        self.directory = MemberDirectory(engine)
        self.gate: PeerGate | None = None
        self.client: PeerClient | None = None
        self._lookup_key = b""
        if self.identity is not None:
            self.gate = PeerGate(self.identity, engine, clock, self.directory)
            self.client = PeerClient(self.identity, engine, clock, self.directory)
            self._lookup_key = self.identity.lookup_scalar(settings.alliance_lookup_epoch)
        self._pii_key = settings.pii_key.encode()
        per_hour = settings.alliance_psi_per_hour
        per_minute = settings.alliance_lookups_per_minute
        self.psi_limiter = RateLimiter(per_hour / 3600, per_hour)
        self.lookup_limiter = RateLimiter(per_minute / 60, per_minute)
        self._indexes: dict[str, tuple[tuple[int, int, int], psi.LookupIndex]] = {}
        # When each kind's list version was last read (monotonic): at most every
        # INDEX_CHECK_S, or at once after a change made through this service.
        self._index_checked: dict[str, float] = {}
        self._index_locks = {kind: threading.Lock() for kind in canonical.KINDS}

    # -- basics ------------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.identity is not None

    def require_configured(self) -> Identity:
        if self.identity is None:
            raise ServiceUnavailable(NOT_CONFIGURED, retry_after=NOT_CONFIGURED_RETRY_S)
        return self.identity

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def digest(self, kind: str, value: str) -> str:
        return hmac.new(
            self._pii_key, f"alliance-list|{kind}|{value}".encode(), hashlib.sha256
        ).hexdigest()

    def customer_digest(self, customer_id: str) -> str:
        return hmac.new(
            self._pii_key, f"alliance-customer|{customer_id}".encode(), hashlib.sha256
        ).hexdigest()

    def identity_view(self) -> dict[str, Any]:
        if self.identity is None:
            return {
                "configured": False,
                "message": {
                    "en": "The alliance is not configured: set LENDGUARD_ALLIANCE_MEMBER_ID "
                    "and LENDGUARD_ALLIANCE_SIGNING_KEY.",
                    "zh-CN": "联盟未配置：请设置 LENDGUARD_ALLIANCE_MEMBER_ID 和 "
                    "LENDGUARD_ALLIANCE_SIGNING_KEY。",
                },
            }
        return {
            "configured": True,
            "member_id": self.identity.member_id,
            "public_key": self.identity.public_key_b64,
            "lookup_epoch": self.settings.alliance_lookup_epoch,
        }

    # -- members -----------------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        self.require_configured()
        with self.engine.connect() as conn:
            return repo.members(conn)

    def add_member(self, body: AllianceMemberBody, actor: str, ip: str | None) -> dict[str, Any]:
        identity = self.require_configured()
        if body.member_id == identity.member_id:
            raise ValidationFailed(
                "a member is another lender", errors=[FieldError("member_id", "is this lender")]
            )
        try:
            public_key_from(body.public_key)
        except ValueError as exc:
            raise ValidationFailed(
                "the public key is invalid", errors=[FieldError("public_key", str(exc))]
            ) from None
        now = self._now()
        with self.engine.begin() as conn:
            found = repo.member(conn, body.member_id)
            values = {
                "name": body.name,
                "url": body.url.rstrip("/"),
                "public_key": body.public_key,
                "status": "active",
                "created_at": now,
                "created_by": actor,
                "removed_at": None,
            }
            if found is not None and found["status"] == "active":
                raise Conflict(
                    f"member {body.member_id} is already configured",
                    errors=[FieldError("member_id", "already an active member")],
                )
            if found is None:
                repo.insert_member(conn, {"member_id": body.member_id, **values})
            else:
                repo.update_member(conn, body.member_id, values)
            audit.record(
                conn,
                actor,
                "alliance.member.add",
                body.member_id,
                ip,
                {"url": values["url"], "public_key": body.public_key},
            )
            out = repo.member(conn, body.member_id)
        self.directory.invalidate()
        assert out is not None
        return out

    def remove_member(self, member_id: str, actor: str, ip: str | None) -> dict[str, Any]:
        self.require_configured()
        with self.engine.begin() as conn:
            found = repo.member(conn, member_id)
            if found is None:
                raise NotFound(
                    f"no member {member_id}", errors=[FieldError("member_id", "not a member")]
                )
            if found["status"] == "active":
                repo.update_member(
                    conn, member_id, {"status": "removed", "removed_at": self._now()}
                )
                audit.record(conn, actor, "alliance.member.remove", member_id, ip, {})
            out = repo.member(conn, member_id)
        self.directory.invalidate()
        assert out is not None
        return out

    # -- the list ----------------------------------------------------------------------------------

    @staticmethod
    def canonical_value(kind: str, value: str, field: str) -> str:
        try:
            return canonical.canonicalise(kind, value)
        except canonical.CanonicalError as exc:
            raise ValidationFailed(
                "the identifier is not valid", errors=[FieldError(field, str(exc))]
            ) from None

    def add_entry(self, body: AllianceListEntryBody, actor: str, ip: str | None) -> dict[str, Any]:
        """Put an identifier on the list; one already there (active) is answered as is."""
        self.require_configured()
        value = self.canonical_value(body.kind, body.value, "value")
        digest = self.digest(body.kind, value)
        try:
            return self._add_entry(body, value, digest, actor, ip)
        except IntegrityError:
            # The same identifier added at once by another request (maybe spelt otherwise):
            # its transaction won, so the entry is there now and is answered as is.
            with self.engine.connect() as conn:
                found = repo.entry_by_digest(conn, body.kind, digest)
            if found is None:
                raise
            return repo.entry_row(found, created=False)

    def _add_entry(
        self, body: AllianceListEntryBody, value: str, digest: str, actor: str, ip: str | None
    ) -> dict[str, Any]:
        now = self._now()
        with self.engine.begin() as conn:
            found = repo.entry_by_digest(conn, body.kind, digest)
            if found is not None and found.removed_at is None:
                return repo.entry_row(found, created=False)
            token = self.vault.put(VAULT_KIND[body.kind], value, LIST_OWNER, conn)
            values = {
                "reason": body.reason,
                "added_by": actor,
                "added_at": now,
                "removed_at": None,
                "token": token.removeprefix(_TOKEN_PREFIX),
                "masked": canonical.mask(body.kind, value),
            }
            if found is None:
                entry_id = repo.insert_entry(conn, {"kind": body.kind, "digest": digest, **values})
            else:
                entry_id = int(found.id)
                repo.update_entry(conn, entry_id, values)
            audit.record(
                conn,
                actor,
                "alliance.list.add",
                f"alliance_list_entry:{entry_id}",
                ip,
                {"kind": body.kind, "reason": body.reason},
            )
            row = repo.entry_by_id(conn, entry_id)
        self._index_checked.pop(body.kind, None)
        return repo.entry_row(row, created=True)

    def remove_entry(
        self, body: AllianceListRemoveBody, actor: str, ip: str | None
    ) -> dict[str, Any]:
        self.require_configured()
        by_value = body.kind is not None or body.value is not None
        if (body.entry_id is None) == (not by_value) or (
            by_value and (body.kind is None or body.value is None)
        ):
            raise ValidationFailed(
                "name the entry by entry_id, or by kind and value",
                errors=[FieldError("entry_id", "give entry_id, or kind and value")],
            )
        with self.engine.begin() as conn:
            if body.entry_id is not None:
                found = repo.entry_by_id(conn, body.entry_id)
                field = "entry_id"
            else:
                assert body.kind is not None
                assert body.value is not None
                value = self.canonical_value(body.kind, body.value, "value")
                found = repo.entry_by_digest(conn, body.kind, self.digest(body.kind, value))
                field = "value"
            if found is None:
                raise NotFound("no such list entry", errors=[FieldError(field, "not on the list")])
            if found.removed_at is None:
                repo.update_entry(conn, int(found.id), {"removed_at": self._now()})
                audit.record(
                    conn,
                    actor,
                    "alliance.list.remove",
                    f"alliance_list_entry:{found.id}",
                    ip,
                    {"kind": found.kind},
                )
            row = repo.entry_by_id(conn, int(found.id))
        self._index_checked.pop(str(found.kind), None)
        return repo.entry_row(row)

    def list_summary(self) -> dict[str, Any]:
        self.require_configured()
        with self.engine.connect() as conn:
            found = repo.counts(conn)
        counts = {kind: found.get(kind, 0) for kind in canonical.KINDS}
        return {"counts": counts, "total": sum(counts.values())}

    def own_list(self, kind: str) -> list[tuple[int, str, str]]:
        """``(entry id, masked, canonical value)`` of every active entry of ``kind``."""
        with self.engine.connect() as conn:
            entries = repo.active_entries(conn, kind)
        if not entries:
            return []
        values = {
            str(item["token"]).removeprefix(_TOKEN_PREFIX): str(item["value"])
            for item in self.vault.for_customer(LIST_OWNER)
            if item["kind"] == VAULT_KIND[kind]
        }
        return [
            (entry_id, masked, values[token])
            for entry_id, token, masked in entries
            if token in values
        ]

    def lookup_index(self, kind: str) -> psi.LookupIndex:
        """The OPRF index of the list of ``kind``: a cache, rebuilt when the list changed —
        at once after a change through this service, within :data:`INDEX_CHECK_S` after one
        made by another process. Blocking: call from a worker thread."""
        checked = self._index_checked.get(kind)
        cached = self._indexes.get(kind)
        if (
            cached is not None
            and checked is not None
            and time.monotonic() - checked < INDEX_CHECK_S
        ):
            return cached[1]
        self._index_checked[kind] = time.monotonic()
        with self.engine.connect() as conn:
            version = repo.list_version(conn, kind)
        cached = self._indexes.get(kind)
        if cached is not None and cached[0] == version:
            return cached[1]
        with self._index_locks[kind]:
            cached = self._indexes.get(kind)
            if cached is not None and cached[0] == version:
                return cached[1]
            values = [value for _id, _masked, value in self.own_list(kind)]
            index = psi.LookupIndex.build(kind, values, self._lookup_key)
            self._indexes[kind] = (version, index)
            return index

    # -- exchanges ---------------------------------------------------------------------------------

    def _record(self, conn: Any, values: dict[str, Any], ip: str | None = None) -> None:
        """An exchange row and its audit entry (counts only)."""
        values = {"legal_basis": LEGAL_BASIS, "purpose": PURPOSE, "detail": {}, **values}
        repo.insert_exchange(conn, values)
        audit.record(
            conn,
            values["actor"],
            f"alliance.{values['kind']}.{values['role']}",
            f"alliance_exchange:{values['id']}",
            ip,
            {
                "peer": values["peer"],
                "session_id": values["session_id"],
                "list_kind": values.get("list_kind"),
                "mode": values["mode"],
                "items": values["items"],
                "peer_items": values.get("peer_items"),
                "matched": values.get("matched"),
                "status": values["status"],
                "purpose": PURPOSE,
            },
        )

    def record_exchanges(self, rows: list[dict[str, Any]], ip: str | None = None) -> None:
        with self.engine.begin() as conn:
            for values in rows:
                self._record(conn, values, ip)

    def exchanges(
        self,
        *,
        kind: str | None,
        peer: str | None,
        since: datetime | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        self.require_configured()
        with self.engine.connect() as conn:
            rows = repo.exchanges(
                conn, kind=kind, peer=peer, since=since, limit=limit + 1, offset=offset
            )
        more = len(rows) > limit
        return {"exchanges": rows[:limit], "next_offset": offset + limit if more else None}

    # -- PSI ---------------------------------------------------------------------------------------

    def _active_member(self, member_id: str, field: str) -> None:
        with self.engine.connect() as conn:
            found = repo.member(conn, member_id)
        if found is None or found["status"] != "active":
            raise ValidationFailed(
                f"{member_id} is not an active member",
                errors=[FieldError(field, "not an active member")],
            )

    async def run_psi(self, body: AlliancePsiBody, actor: str, ip: str | None) -> dict[str, Any]:
        """This lender as requester: its list of ``list_kind`` against the member's."""
        self.require_configured()
        assert self.client is not None
        await asyncio.to_thread(self._active_member, body.peer, "peer")
        started = self._now()
        clock = time.perf_counter()
        session_id = new_id("psi")

        def prepare() -> tuple[list[tuple[int, str, str]], psi.RequesterSession, str]:
            entries = self.own_list(body.list_kind)
            session = psi.RequesterSession(body.list_kind, [value for *_rest, value in entries])
            return entries, session, _b64(group.pack(session.blinded()))

        entries, session, blinded = await asyncio.to_thread(prepare)
        base = {
            "kind": "psi",
            "role": "requester",
            "peer": body.peer,
            "session_id": session_id,
            "list_kind": body.list_kind,
            "mode": body.mode,
            "items": len(entries),
            "actor": actor,
            "started_at": started,
        }

        async def failed(reason: str, error: LendGuardError) -> LendGuardError:
            row = {
                **base,
                "id": new_id("axc"),
                "status": "failed",
                "finished_at": self._now(),
                "took_ms": (time.perf_counter() - clock) * 1000,
                "detail": {"reason": reason},
            }
            await asyncio.to_thread(self.record_exchanges, [row], ip)
            return error

        payload = {
            "session_id": session_id,
            "list_kind": body.list_kind,
            "mode": body.mode,
            "blinded": blinded,
        }
        try:
            answer = await self.client.post(body.peer, PSI_PATH, payload, PSI_TIMEOUT_S)
        except PeerUnavailable as exc:
            raise await failed(
                "unavailable",
                ServiceUnavailable(
                    f"member {body.peer} is unreachable ({exc.reason}); nothing was matched",
                    errors=[FieldError("peer", "unreachable")],
                    retry_after=30,
                ),
            ) from None
        except PeerRefused as exc:
            raise await failed(f"refused_{exc.status}", _relay(body.peer, exc)) from None

        def finish() -> psi.PsiResult:
            try:
                double = decode_points(str(answer.get("double_blinded", "")), "double_blinded")
                theirs = decode_points(str(answer.get("own_blinded", "")), "own_blinded")
                return session.finish(double, theirs, body.mode)
            except ValueError as exc:  # InvalidPoint, a wrong count, ValidationFailed's kin
                raise AlliancePeerFailed(
                    f"member {body.peer} answered malformed points",
                    errors=[FieldError("peer", str(exc) or "malformed answer")],
                ) from None
            except ValidationFailed as exc:
                raise AlliancePeerFailed(
                    f"member {body.peer} answered malformed points", errors=exc.errors
                ) from None

        try:
            result = await asyncio.to_thread(finish)
        except AlliancePeerFailed as exc:
            raise await failed("malformed_answer", exc) from None
        peer_items = answer.get("items")
        peer_items = peer_items if isinstance(peer_items, int) else 0
        took_ms = (time.perf_counter() - clock) * 1000
        exchange_id = new_id("axc")
        row = {
            **base,
            "id": exchange_id,
            "peer_items": peer_items,
            "matched": result.count,
            "status": "done",
            "finished_at": self._now(),
            "took_ms": took_ms,
        }
        await asyncio.to_thread(self.record_exchanges, [row], ip)
        matched = None
        if result.matched_indices is not None:
            matched = [
                {"id": entries[i][0], "masked": entries[i][1]} for i in result.matched_indices
            ]
        return {
            "exchange_id": exchange_id,
            "session_id": session_id,
            "peer": body.peer,
            "list_kind": body.list_kind,
            "mode": body.mode,
            "items": len(entries),
            "peer_items": peer_items,
            "count": result.count,
            "matched": matched,
            "took_ms": took_ms,
        }

    def _check_psi_budget(self, member_id: str, items: int, now: datetime) -> None:
        """Refuse a session that would take ``member_id`` past its daily budget of items (a
        member probing this lender's list by sending candidate identifiers)."""
        budget = self.settings.alliance_psi_items_per_day
        with self.engine.connect() as conn:
            asked = repo.psi_items_asked_since(conn, member_id, now - timedelta(days=1))
        if asked + items > budget:
            raise RateLimited(
                "this member's PSI items are over the daily budget / 该成员的比对条数超出每日上限",
                errors=[
                    FieldError(
                        "blinded",
                        f"{asked} items in the last 24 hours, {items} more asked, "
                        f"at most {budget} a day",
                    )
                ],
                retry_after=3600,
            )

    def answer_psi(self, caller: PeerCaller, body: AlliancePeerPsiBody) -> dict[str, Any]:
        """This lender as responder. Blocking (group operations over the whole list): call
        from a worker thread. Refusals (rate limit, bad points) leave no row."""
        wait = self.psi_limiter.take(caller.member_id)
        if wait > 0:
            raise RateLimited(
                "too many PSI sessions from this member",
                errors=[FieldError("member", "PSI sessions over the hourly limit")],
                retry_after=retry_after(wait),
            )
        started = self._now()
        clock = time.perf_counter()
        theirs = decode_points(body.blinded, "blinded")
        self._check_psi_budget(caller.member_id, len(theirs), started)
        entries = self.own_list(body.list_kind)
        try:
            answer = psi.respond(
                body.list_kind, [value for *_rest, value in entries], theirs, body.mode
            )
        except group.InvalidPoint:
            raise _not_points("blinded") from None
        took_ms = (time.perf_counter() - clock) * 1000
        self.record_exchanges(
            [
                {
                    "id": new_id("axc"),
                    "kind": "psi",
                    "role": "responder",
                    "peer": caller.member_id,
                    "session_id": body.session_id,
                    "list_kind": body.list_kind,
                    "mode": body.mode,
                    "items": len(entries),
                    "peer_items": len(theirs),
                    "matched": None,
                    "status": "done",
                    "actor": f"alliance:{caller.member_id}",
                    "started_at": started,
                    "finished_at": self._now(),
                    "took_ms": took_ms,
                }
            ]
        )
        return {
            "session_id": body.session_id,
            "double_blinded": _b64(group.pack(answer.double_blinded)),
            "own_blinded": _b64(group.pack(answer.own_blinded)),
            "items": len(entries),
        }

    # -- lookups -----------------------------------------------------------------------------------

    async def lookup(self, body: AllianceLookupBody, actor: str, ip: str | None) -> dict[str, Any]:
        """Ask every active member about one applicant's identifiers, concurrently; a member
        that does not answer in time is listed in ``unavailable``."""
        self.require_configured()
        assert self.client is not None
        client = self.client
        clock = time.perf_counter()
        started = self._now()
        query_id = new_id("alq")

        def prepare() -> tuple[list[str], list[tuple[str, psi.LookupQuery]]]:
            seen: dict[tuple[str, str], None] = {}
            for i, item in enumerate(body.identifiers):
                value = self.canonical_value(item.kind, item.value, f"identifiers.{i}.value")
                seen[(item.kind, value)] = None
            with self.engine.connect() as conn:
                members = repo.active_member_ids(conn)
            return members, [(kind, psi.lookup_query(kind, value)) for kind, value in seen]

        members, queries = await asyncio.to_thread(prepare)

        payload = {
            "query_id": query_id,
            "queries": [
                {"kind": kind, "blinded": _b64(query.blinded), "bucket": query.bucket}
                for kind, query in queries
            ],
        }

        async def ask(member: str) -> tuple[str, dict[str, Any] | None, str | None]:
            """One signed request carrying every query: the member's raw answer, or why not."""
            try:
                answer = await asyncio.wait_for(
                    client.post(member, LOOKUP_PATH, payload, LOOKUP_TIMEOUT_S),
                    LOOKUP_TIMEOUT_S + 0.5,
                )
            except PeerUnavailable as exc:
                return member, None, f"unavailable:{exc.reason}"
            except PeerRefused as exc:
                return member, None, f"refused:{exc.status}"
            except TimeoutError:
                return member, None, "unavailable:timeout"
            return member, answer, None

        def hit_kinds(answer: dict[str, Any]) -> list[str]:
            """The kinds whose query unblinds to a tag of its bucket; ValueError when the
            answer is malformed (not one answer per query, bad base64, ragged tags)."""
            answers = answer.get("answers")
            if not isinstance(answers, list) or len(answers) != len(queries):
                raise ValueError("one answer per query expected")
            kinds: set[str] = set()
            for (kind, query), item in zip(queries, answers, strict=True):
                if not isinstance(item, dict):
                    raise ValueError("an answer is not an object")
                evaluated = base64.b64decode(str(item.get("evaluated", "")), validate=True)
                tags_raw = base64.b64decode(str(item.get("tags", "")), validate=True)
                if len(tags_raw) % psi.TAG_BYTES:
                    raise ValueError("ragged tags")
                size = psi.TAG_BYTES
                tags = [tags_raw[i : i + size] for i in range(0, len(tags_raw), size)]
                if query.is_hit(evaluated, tags):
                    kinds.add(kind)
            return sorted(kinds)

        def judge(
            answered: list[tuple[str, dict[str, Any] | None, str | None]],
        ) -> list[tuple[str, list[str], str | None]]:
            """Unblind every member's answers (group operations: a worker thread)."""
            out: list[tuple[str, list[str], str | None]] = []
            for member, answer, err in answered:
                if answer is None:
                    out.append((member, [], err))
                    continue
                try:
                    out.append((member, hit_kinds(answer), None))
                except (ValueError, binascii.Error):  # InvalidPoint is a ValueError
                    out.append((member, [], "bad_answer"))
            return out

        answered = await asyncio.gather(*(ask(member) for member in members))
        outcomes = await asyncio.to_thread(judge, answered) if answered else []
        took_ms = (time.perf_counter() - clock) * 1000
        hits = [{"member": m, "kind": k} for m, kinds, _err in outcomes for k in kinds]
        unavailable = [m for m, _kinds, err in outcomes if err is not None]
        detail: dict[str, Any] = {}
        if body.customer_id is not None:
            detail["customer"] = self.customer_digest(body.customer_id)
        finished = self._now()
        rows = [
            {
                "id": new_id("axc"),
                "kind": "lookup",
                "role": "requester",
                "peer": member,
                "session_id": query_id,
                "list_kind": queries[0][0] if len(queries) == 1 else None,
                "mode": "lookup",
                "items": len(queries),
                "matched": None if err is not None else len(kinds),
                "status": "failed" if err is not None else "done",
                "actor": actor,
                "started_at": started,
                "finished_at": finished,
                "took_ms": took_ms,
                "detail": {
                    **detail,
                    "kinds": sorted({kind for kind, _q in queries}),
                    **({"reason": err} if err is not None else {}),
                },
            }
            for member, kinds, err in outcomes
        ]
        if rows:
            await asyncio.to_thread(self.record_exchanges, rows, ip)
        return {
            "query_id": query_id,
            "hits": hits,
            "members_asked": members,
            "unavailable": unavailable,
            "signal": {"alliance_hit": sorted({hit["kind"] for hit in hits})},
            "took_ms": took_ms,
        }

    def answer_lookup(self, caller: PeerCaller, body: AlliancePeerLookupBody) -> dict[str, Any]:
        """This lender as lookup responder, the exchange recorded before answering. Blocking:
        call from a worker thread."""
        payload, record = self.answer_lookup_deferred(caller, body)
        record()
        return payload

    def answer_lookup_deferred(
        self, caller: PeerCaller, body: AlliancePeerLookupBody
    ) -> tuple[dict[str, Any], Callable[[], None]]:
        """The answers to every query of the request, in its order, and the recording of the
        exchange to run once they are sent (the peer route does: the record's two writes stay
        off the asker's latency). One token of the member's rate limit per query: the limit
        counts identifiers asked about, however they are grouped (a request refused midway keeps
        the tokens it took: its member is over the limit anyway). Refusals (rate limit, bad
        points) record nothing. Blocking: call from a worker thread."""
        for _query in body.queries:
            wait = self.lookup_limiter.take(caller.member_id)
            if wait > 0:
                raise RateLimited(
                    "too many lookups from this member",
                    errors=[FieldError("member", "lookups over the per-minute limit")],
                    retry_after=retry_after(wait),
                )
        started = self._now()
        clock = time.perf_counter()
        points: list[bytes] = []
        for i, query in enumerate(body.queries):
            field = f"queries.{i}.blinded"
            blinded = decode_points(query.blinded, field)
            if len(blinded) != 1:
                raise ValidationFailed(
                    "one point expected", errors=[FieldError(field, "exactly one point")]
                )
            points.append(blinded[0])
        evaluated: list[bytes] = []
        for i, point in enumerate(points):
            try:
                evaluated.append(psi.lookup_answer(self._lookup_key, point))
            except group.InvalidPoint:
                raise _not_points(f"queries.{i}.blinded") from None
        tags = [self.lookup_index(q.kind).bucket_tags(q.bucket) for q in body.queries]
        kinds = sorted({q.kind for q in body.queries})
        row = {
            "id": new_id("axc"),
            "kind": "lookup",
            "role": "responder",
            "peer": caller.member_id,
            "session_id": body.query_id,
            "list_kind": kinds[0] if len(kinds) == 1 else None,
            "mode": "lookup",
            "items": len(body.queries),
            "peer_items": None,
            "matched": None,
            "status": "done",
            "actor": f"alliance:{caller.member_id}",
            "started_at": started,
            "finished_at": self._now(),
            "took_ms": (time.perf_counter() - clock) * 1000,
            # the kinds and the buckets' sizes, never a bucket: 16 bits of a hash of the
            # applicant's identifier kept at rest would narrow down who was asked about
            "detail": {"kinds": kinds, "bucket_sizes": [len(t) for t in tags]},
        }
        payload = {
            "query_id": body.query_id,
            "answers": [
                {"evaluated": _b64(point), "tags": _b64(b"".join(bucket))}
                for point, bucket in zip(evaluated, tags, strict=True)
            ],
        }
        return payload, lambda: self.record_exchanges([row])


def _relay(peer: str, exc: PeerRefused) -> LendGuardError:
    """A member's refusal as this lender's answer to its own caller."""
    if exc.status == 429:
        retry = exc.problem.get("retry_after")
        return RateLimited(
            f"member {peer} refused: too many requests",
            errors=[FieldError("peer", "over the member's rate limit")],
            retry_after=int(retry) if isinstance(retry, str) and retry.isdigit() else 60,
        )
    detail = str(exc.problem.get("detail") or "")[:200]
    return AlliancePeerFailed(
        f"member {peer} refused the exchange (HTTP {exc.status}): {detail}",
        errors=[FieldError("peer", f"refused with HTTP {exc.status}")],
    )
