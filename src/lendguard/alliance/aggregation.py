"""Alliance statistics by secure aggregation (issue #20): each member's fraud figures for a
month, summed across the alliance without any member — the aggregator included — seeing
another's.

**The vector.** One entry per (typology, measure), in the order of :func:`layout`. Typologies
are the scam types the support area's lexicon shares with the cases (``fake_customer_service``
… ``other``): an intervention counts under its case's scam type, else under the typology its
strongest reason code stands for (:data:`REASON_TYPOLOGY`), else ``other`` — rule reason codes
are each lender's own, the scam types are common ground. Measures, for decisions made in the
month (UTC):

* ``interventions`` — decisions at intercept or above, by themselves or by their challenge's
  follow-up (counted once);
* ``confirmed_frauds`` — of those, the ones whose case was resolved as fraud or scam victim;
* ``losses_avoided_fen`` — the held money whose hold was cancelled (the payment did not go
  out), in fen (hundredths of the event's currency unit).

**The round** (:class:`AggregationRunner`, the aggregator being itself a contributor):
advertise → share → collect → consistency → unmask over signed peer requests; a member that
does not answer a step (unreachable, a timeout, a refusal, a malformed answer) is dropped, and
the sum is the survivors'. At the consistency step each survivor signs the survivors list (one
list per round) and at the unmask it reveals only for that list, signed by at least t of its
members: a hostile aggregator cannot tell some members that V dropped and others that V
survived and strip both of V's masks (:mod:`lendguard.alliance.secagg`, "A hostile
aggregator"). Fewer than ``alliance_min_contributors`` (never under 3) members at the start or
left at collect, and the round fails before anything is unmasked: a total of two members tells
each the other's figures. Each contributor enforces the same minimum itself, so an aggregator
cannot make it unmask a sum of two.

**What is kept.** The aggregator keeps the round (participants, dropped, totals), one
:class:`AllianceExchange` row and an audit entry — never a member's vector, not even its own.
A contributor keeps its secrets between steps sealed (AES-GCM under
``Identity.seal_key("secagg")``) in :class:`AllianceRoundState`, wiped after it unmasks (or
an hour after a step of a round that never finished: :data:`STATE_KEEP`), and
one exchange row and audit entry when its masked vector leaves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lendguard.alliance import secagg
from lendguard.alliance.peer import Identity, PeerClient, PeerError, public_key_from
from lendguard.auth import audit
from lendguard.decisions.rules.loader import Action
from lendguard.errors import Conflict, FieldError, NotFound, ServiceUnavailable, ValidationFailed
from lendguard.interventions.effectiveness import (
    SCAM_OUTCOMES,
    InterventionRow,
    intervention_rows,
    typology,
)
from lendguard.models.alliance import (
    AllianceExchange,
    AllianceMember,
    AllianceRound,
    AllianceRoundState,
)
from lendguard.models.cases import CaseDecision
from lendguard.models.interventions import ChallengeResponse
from lendguard.support.cues import SCAM_TYPES

Clock = Callable[[], datetime]

MEASURES = ("interventions", "confirmed_frauds", "losses_avoided_fen")
TYPOLOGIES = SCAM_TYPES
OTHER = "other"
# Reason codes of the default rule set that stand for one scam typology (the rest: "other").
REASON_TYPOLOGY = {
    "ACCOUNT_TAKEOVER": "account_takeover",
    "CREDENTIAL_CHANGE_NEW_DEVICE": "account_takeover",
    "PHONE_CHANGED": "account_takeover",
    "ADVANCE_FEE_PATTERN": "advance_fee_loan",
    "MULE_INBOUND": "mule",
    "PAYEE_MANY_PAYERS": "mule",
    "SHARED_IP": "ring",
    "ELDERLY_CUSTOMER": "elderly_investment",
    "SCREEN_SHARING": "fake_customer_service",
    "REMOTE_CONTROL_APP": "fake_customer_service",
    "NEW_PAYEE_DURING_CALL": "fake_customer_service",
}
STOPPED_HOLD = "cancelled"
STEPS = ("advertise", "share", "collect", "consistency", "unmask")
# Seconds a member has to answer one step before it is dropped.
STEP_TIMEOUT_S = 15.0
# A contributor's sealed secrets of a round that did not finish are wiped after this long (the
# round is marked expired; a later step of it is refused).
STATE_KEEP = timedelta(hours=1)
LEGAL_BASIS = (
    "PIPL Art. 13(1)(3) and Art. 23; Anti-Telecom and Online Fraud Law Art. 18 and 31 "
    "(information sharing against fraud)"
)
PURPOSE = "anti_fraud"
SEAL_PURPOSE = "secagg"
_PERIOD = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")
_ROUND_ID = re.compile(r"^[0-9a-f]{32}$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def layout() -> list[dict[str, str]]:
    """The vector's entries in order: every typology × every measure."""
    return [{"typology": t, "measure": m} for t in TYPOLOGIES for m in MEASURES]


def minimum_contributors(setting: int) -> int:
    return max(3, int(setting))


def month_of(period: str, field: str = "period") -> tuple[datetime, datetime]:
    """``YYYY-MM`` → [first instant, first instant of the next month) in UTC; 422 otherwise."""
    found = _PERIOD.match(period) if isinstance(period, str) else None
    if found is None:
        raise ValidationFailed(
            "the period is a month, YYYY-MM / 期间须为月份 YYYY-MM",
            errors=[FieldError(field, "YYYY-MM expected")],
        )
    year, month = int(found.group(1)), int(found.group(2))
    if not 2000 <= year <= 2099:
        raise ValidationFailed(
            "the period is out of range / 期间超出范围",
            errors=[FieldError(field, "a year from 2000 to 2099 expected")],
        )
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def alliance_typology(row: InterventionRow) -> str:
    own = typology(row)
    if own in TYPOLOGIES:
        return own
    return REASON_TYPOLOGY.get(own, OTHER)


def _stopping(row: InterventionRow) -> bool:
    """At intercept or above, by the decision itself or by its challenge's follow-up."""
    actions = (row.action, row.follow_up_action or "")
    ranks = [Action(a).rank for a in actions if a in Action.__members__]
    return bool(ranks) and max(ranks) >= Action.intercept.rank


def own_vector(conn: Connection, period: str) -> list[int]:
    """This lender's figures for the month, in the order of :func:`layout`."""
    start, end = month_of(period)
    rows = [r for r in intervention_rows(conn, start, end) if _stopping(r)]
    ids = [r.decision_id for r in rows]
    amounts: dict[str, float] = {}
    follow_ups: dict[str, str] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for decision_id, follow_up in conn.execute(
            select(ChallengeResponse.decision_id, ChallengeResponse.follow_up_decision_id).where(
                ChallengeResponse.decision_id.in_(chunk),
                ChallengeResponse.follow_up_decision_id.is_not(None),
            )
        ).all():
            follow_ups[decision_id] = follow_up
        wanted = chunk + [follow_ups[i] for i in chunk if i in follow_ups]
        for decision_id, amount in conn.execute(
            select(CaseDecision.decision_id, CaseDecision.amount).where(
                CaseDecision.decision_id.in_(wanted), CaseDecision.hold_status == STOPPED_HOLD
            )
        ).all():
            amounts[decision_id] = float(amount or 0.0)
    index = {(e["typology"], e["measure"]): i for i, e in enumerate(layout())}
    vector = [0] * len(index)
    for row in rows:
        kind = alliance_typology(row)
        vector[index[(kind, "interventions")]] += 1
        if row.case_state in SCAM_OUTCOMES:
            vector[index[(kind, "confirmed_frauds")]] += 1
        if row.hold_status == STOPPED_HOLD:
            # the later hold counts (the follow-up's, when the answers held the money)
            amount = amounts.get(follow_ups.get(row.decision_id, ""), amounts.get(row.decision_id))
            if amount:
                vector[index[(kind, "losses_avoided_fen")]] += round(amount * 100)
    return vector


# --- records ----------------------------------------------------------------------------------


def _exchange(
    conn: Connection,
    *,
    role: str,
    peer: str,
    round_id: str,
    items: int,
    status: str,
    actor: str,
    started_at: datetime,
    finished_at: datetime,
    matched: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(AllianceExchange).values(
            id=uuid.uuid4().hex,
            kind="aggregation",
            role=role,
            peer=peer,
            session_id=round_id,
            list_kind=None,
            mode="sum",
            items=items,
            peer_items=None,
            matched=matched,
            status=status,
            legal_basis=LEGAL_BASIS,
            purpose=PURPOSE,
            actor=actor,
            started_at=started_at,
            finished_at=finished_at,
            took_ms=(finished_at - started_at).total_seconds() * 1000.0,
            detail=detail or {},
        )
    )


def round_view(row: AllianceRound | Any) -> dict[str, Any]:
    """A round as the API answers it: the totals only, never a member's figures."""
    totals = None
    if row.totals is not None:
        totals = [
            {"typology": e["typology"], "measure": e["measure"], "total": int(v)}
            for e, v in zip(row.layout, row.totals, strict=True)
        ]
    detail = row.detail or {}
    return {
        "round_id": row.round_id,
        "period": row.period,
        "step": row.step,
        "participants": list(row.participants),
        "dropped": list(row.dropped or []),
        "totals": totals,
        "started_by": row.started_by,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "failure": detail.get("failure"),
    }


def list_rounds(engine: Engine, limit: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AllianceRound)
            .order_by(AllianceRound.started_at.desc(), AllianceRound.round_id)
            .limit(limit)
        ).all()
    return [round_view(r) for r in rows]


def get_round(engine: Engine, round_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(AllianceRound).where(AllianceRound.round_id == round_id)).first()
    if row is None:
        raise NotFound(
            "no such aggregation round / 无此汇总轮次",
            errors=[FieldError("round_id", "unknown")],
        )
    return round_view(row)


# --- the contributor's side -------------------------------------------------------------------


def _seal(identity: Identity, round_id: str, state: dict[str, Any]) -> bytes:
    nonce = secrets.token_bytes(12)
    aad = b"lendguard-secagg-state-v1|" + round_id.encode()
    key = AESGCM(identity.seal_key(SEAL_PURPOSE))
    return nonce + key.encrypt(nonce, json.dumps(state).encode(), aad)


def _unseal(identity: Identity, round_id: str, sealed: bytes) -> dict[str, Any]:
    aad = b"lendguard-secagg-state-v1|" + round_id.encode()
    try:
        plain = AESGCM(identity.seal_key(SEAL_PURPOSE)).decrypt(sealed[:12], sealed[12:], aad)
    except (InvalidTag, ValueError) as exc:
        raise Conflict("the round's sealed state does not open / 轮次状态无法解封") from exc
    state: dict[str, Any] = json.loads(plain)
    return state


def _refusal(step: str, exc: secagg.SecAggError) -> Conflict:
    return Conflict(
        f"aggregation step {step} refused: {exc} / 汇总步骤被拒绝",
        errors=[FieldError("step", str(exc))],
    )


def _words(values: Sequence[int]) -> str:
    return base64.b64encode(b"".join(v.to_bytes(8, "little") for v in values)).decode()


def _unwords(text: str, length: int) -> list[int]:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 8 * length:
        raise secagg.SecAggError(f"the masked vector is not {length} words")
    return [int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), 8)]


ADVERT_DOMAIN = b"lendguard-secagg-advert-v1"


def advert_message(round_id: str, advert: secagg.Advert) -> bytes:
    """The bytes a member signs (its alliance Ed25519 key) to vouch for its round keys: without
    it an aggregator could pad a round with keys of its own under other members' names (or
    names of no member) and read a lone honest member's figures off the sum."""
    return b"\n".join(
        (
            ADVERT_DOMAIN,
            round_id.encode(),
            advert.member.encode(),
            base64.b64encode(advert.c_public),
            base64.b64encode(advert.s_public),
        )
    )


def sign_advert(identity: Identity, round_id: str, advert: secagg.Advert) -> str:
    return base64.b64encode(identity.sign(advert_message(round_id, advert))).decode()


def member_keys(conn: Connection, members: Sequence[str]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of the active members among ``members`` (a malformed key: left out)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for member_id, text in conn.execute(
        select(AllianceMember.member_id, AllianceMember.public_key).where(
            AllianceMember.member_id.in_(list(members)), AllianceMember.status == "active"
        )
    ).all():
        try:
            keys[member_id] = public_key_from(text)
        except ValueError:
            continue
    return keys


def check_advert_signatures(
    roster: secagg.Roster,
    signatures: Any,
    keys: dict[str, Ed25519PublicKey],
    me: str,
) -> None:
    """Every advert of the roster but one's own is signed by its member, an active member
    here; :class:`secagg.SecAggError` naming the first one that is not."""
    if not isinstance(signatures, dict):
        raise secagg.SecAggError("the roster's advert signatures are missing")
    for advert in roster.adverts:
        if advert.member == me:
            continue
        key = keys.get(advert.member)
        if key is None:
            raise secagg.SecAggError(f"{advert.member} is not an active member here")
        text = signatures.get(advert.member)
        try:
            if not isinstance(text, str):
                raise ValueError("missing")
            key.verify(
                base64.b64decode(text.encode("ascii"), validate=True),
                advert_message(roster.round_id, advert),
            )
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise secagg.SecAggError(f"the advert of {advert.member} is not signed by it") from None


def sign_survivors(identity: Identity, round_id: str, survivors: list[str]) -> str:
    return base64.b64encode(identity.sign(secagg.consistency_message(round_id, survivors))).decode()


def verified_signers(
    round_id: str,
    survivors: list[str],
    signatures: Any,
    keys: dict[str, Ed25519PublicKey],
) -> set[str]:
    """The members of ``survivors`` whose signature on exactly this list (and round) verifies
    under their alliance key; anything else in ``signatures`` is ignored."""
    if not isinstance(signatures, dict):
        raise secagg.SecAggError("the survivors list's signatures are missing")
    message = secagg.consistency_message(round_id, survivors)
    signers: set[str] = set()
    for member in survivors:
        key, text = keys.get(member), signatures.get(member)
        if key is None or not isinstance(text, str):
            continue
        try:
            key.verify(base64.b64decode(text.encode("ascii"), validate=True), message)
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            continue
        signers.add(member)
    return signers


@dataclass
class ContributorDesk:
    """Answers the aggregator's steps for this member (blocking: call from a worker thread)."""

    engine: Engine
    identity: Identity
    min_contributors: int = 3
    clock: Clock = _utcnow

    def answer(self, aggregator: str, round_id: str, step: str, body: Any) -> dict[str, Any]:
        if not _ROUND_ID.match(round_id):
            raise ValidationFailed(
                "the round id is 32 hex digits / 轮次编号须为32位十六进制",
                errors=[FieldError("round_id", "32 lower-case hex digits expected")],
            )
        if step not in STEPS:
            raise NotFound("no such step / 无此步骤", errors=[FieldError("step", "unknown")])
        if not isinstance(body, dict):
            raise ValidationFailed(
                "the body is a JSON object / 请求体须为 JSON 对象",
                errors=[FieldError("body", "object expected")],
            )
        if step == "advertise":
            return self._advertise(aggregator, round_id, body)
        return self._step(aggregator, round_id, step, body)

    def _advertise(self, aggregator: str, round_id: str, body: dict[str, Any]) -> dict[str, Any]:
        period = body.get("period")
        month_of(period if isinstance(period, str) else "", "body.period")
        if body.get("layout") != layout():
            raise Conflict(
                "the round's layout is not this member's / 汇总向量布局不一致",
                errors=[FieldError("body.layout", "differs from this member's layout")],
            )
        contributor = secagg.Contributor.start(round_id, self.identity.member_id, len(layout()))
        now = self.clock()
        state = {"period": period, "contributor": contributor.to_bytes().decode()}
        already = Conflict(
            "this round was advertised already / 该轮次已开始",
            errors=[FieldError("round_id", "already advertised")],
        )
        try:
            with self.engine.begin() as conn:
                # rounds left unfinished: their secrets go, their ids stay (never reused)
                conn.execute(
                    update(AllianceRoundState)
                    .where(
                        AllianceRoundState.updated_at < now - STATE_KEEP,
                        AllianceRoundState.step.not_in(("unmask", "expired")),
                    )
                    .values(step="expired", sealed=b"", updated_at=now)
                )
                if conn.execute(
                    select(AllianceRoundState.round_id).where(
                        AllianceRoundState.round_id == round_id
                    )
                ).first():
                    raise already
                conn.execute(
                    insert(AllianceRoundState).values(
                        round_id=round_id,
                        aggregator=aggregator,
                        step="advertise",
                        sealed=_seal(self.identity, round_id, state),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise already from None
        advert = contributor.advert()
        return {
            "advert": advert.to_json(),
            "advert_signature": sign_advert(self.identity, round_id, advert),
        }

    def _step(
        self, aggregator: str, round_id: str, step: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        previous = STEPS[STEPS.index(step) - 1]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(AllianceRoundState).where(AllianceRoundState.round_id == round_id)
            ).first()
        if row is None or row.aggregator != aggregator:
            raise NotFound(
                "no such round with this aggregator / 无此轮次",
                errors=[FieldError("round_id", "unknown")],
            )
        if row.step == previous and row.updated_at < self.clock() - STATE_KEEP:
            row_step = "expired"
        else:
            row_step = row.step
        # asked again to sign the survivors list: the same list is signed again (a retry),
        # another is refused by the contributor (one list per round)
        again = step == "consistency" and row_step == "consistency"
        if row_step != previous and not again:
            raise Conflict(
                f"the round is at step {row_step}, {step} is out of turn / 步骤顺序错误",
                errors=[FieldError("step", f"{row_step}, {step} not next")],
            )
        state = _unseal(self.identity, round_id, row.sealed)
        contributor = secagg.Contributor.from_bytes(state["contributor"].encode())
        minimum = minimum_contributors(self.min_contributors)
        answer: dict[str, Any]
        recorded: tuple[int, int] | None = None
        try:
            if step == "share":
                roster = secagg.Roster.from_json(body.get("roster") or {})
                if aggregator not in roster.members():
                    raise secagg.SecAggError("the aggregator is not on its own roster")
                if len(roster.members()) < minimum:
                    raise secagg.SecAggError(f"{len(roster.members())} members, {minimum} needed")
                with self.engine.connect() as conn:
                    keys = member_keys(conn, roster.members())
                check_advert_signatures(
                    roster, body.get("signatures"), keys, self.identity.member_id
                )
                answer = {"shares": contributor.share(roster)}
            elif step == "collect":
                survivors = _names(body.get("survivors"))
                if len(survivors) < minimum:
                    raise secagg.SecAggError(f"{len(survivors)} members left, {minimum} needed")
                inbox = body.get("inbox")
                if not isinstance(inbox, dict) or not all(
                    isinstance(v, str) for v in inbox.values()
                ):
                    raise secagg.SecAggError("the inbox is not {member: shares}")
                with self.engine.connect() as conn:
                    vector = own_vector(conn, state["period"])
                masked = contributor.masked_input(vector, survivors, inbox)
                answer = {"masked": _words(masked)}
                recorded = (len(vector), len(survivors))
            elif step == "consistency":
                survivors = _names(body.get("survivors"))
                if len(survivors) < minimum:
                    raise secagg.SecAggError(f"{len(survivors)} members left, {minimum} needed")
                signed = contributor.consistency(survivors)
                answer = {"consistency_signature": sign_survivors(self.identity, round_id, signed)}
            else:
                survivors = _names(body.get("survivors"))
                if len(survivors) < minimum:
                    raise secagg.SecAggError(f"{len(survivors)} members left, {minimum} needed")
                with self.engine.connect() as conn:
                    keys = member_keys(conn, survivors)
                signers = verified_signers(round_id, survivors, body.get("signatures"), keys)
                answer = {"reveal": contributor.unmask(survivors, signers).to_json()}
        except secagg.SecAggError as exc:
            raise _refusal(step, exc) from None
        if again:
            return answer
        now = self.clock()
        state["contributor"] = contributor.to_bytes().decode()
        # after the unmask nothing of the round's secrets is worth keeping
        sealed = b"" if step == "unmask" else _seal(self.identity, round_id, state)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(AllianceRoundState)
                .where(AllianceRoundState.round_id == round_id, AllianceRoundState.step == previous)
                .values(step=step, sealed=sealed, updated_at=now)
            ).rowcount
            if changed != 1:
                raise Conflict(
                    "another answer to this step came first / 该步骤已被应答",
                    errors=[FieldError("step", "answered already")],
                )
            if recorded is not None:
                items, members = recorded
                _exchange(
                    conn,
                    role="contributor",
                    peer=aggregator,
                    round_id=round_id,
                    items=items,
                    status="done",
                    actor=f"alliance:{aggregator}",
                    started_at=row.created_at,
                    finished_at=now,
                    detail={"period": state["period"], "members": members},
                )
                audit.record(
                    conn,
                    f"alliance:{aggregator}",
                    "alliance.aggregation.contribute",
                    round_id,
                    detail={"period": state["period"], "items": items, "members": members},
                )
        return answer


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise secagg.SecAggError("the survivors are a list of member ids")
    return sorted(set(value))


# --- the aggregator's side --------------------------------------------------------------------


class RoundFailed(Exception):
    pass


@dataclass
class AggregationRunner:
    """Drives one round from this member (async: the peers are asked concurrently; the
    database on worker threads)."""

    engine: Engine
    identity: Identity
    client: PeerClient
    min_contributors: int = 3
    step_timeout_s: float = STEP_TIMEOUT_S
    clock: Clock = _utcnow

    def members_for(self, requested: list[str] | None) -> list[str]:
        """The other members asked: those named (each active), or every active member."""
        with self.engine.connect() as conn:
            active = {
                r.member_id
                for r in conn.execute(
                    select(AllianceMember.member_id).where(AllianceMember.status == "active")
                ).all()
            }
        active.discard(self.identity.member_id)
        if requested is None:
            chosen = sorted(active)
        else:
            errors = [
                FieldError(f"members[{i}]", "not an active member")
                for i, m in enumerate(requested)
                if m not in active
            ]
            if errors:
                raise ValidationFailed(
                    "a member named is not an active member / 所列成员不是有效成员", errors=errors
                )
            chosen = sorted(set(requested))
        minimum = minimum_contributors(self.min_contributors)
        if len(chosen) + 1 < minimum:
            raise ValidationFailed(
                f"a round needs at least {minimum} contributors, this one would have "
                f"{len(chosen) + 1} / 汇总至少需要 {minimum} 个参与方",
                errors=[FieldError("members", f"at least {minimum - 1} other members needed")],
            )
        return chosen

    async def run(self, period: str, requested: list[str] | None, actor: str) -> dict[str, Any]:
        month_of(period)
        members = await asyncio.to_thread(self.members_for, requested)
        round_id = uuid.uuid4().hex
        started = self.clock()
        me = self.identity.member_id
        await asyncio.to_thread(self._open, round_id, period, [me, *members], actor, started)
        began = time.perf_counter()
        dropped: dict[str, str] = {}
        aggregator = secagg.Aggregator(round_id=round_id, vector_length=len(layout()))
        own = secagg.Contributor.start(round_id, me, len(layout()))
        try:
            # 1. advertise
            aggregator.add_advert(own.advert())
            signatures = {me: sign_advert(self.identity, round_id, own.advert())}
            keys = await asyncio.to_thread(self._keys, members)
            answers = await self._ask(
                round_id, "advertise", {m: {"period": period, "layout": layout()} for m in members}
            )
            for member, answer in answers.items():
                self._take(
                    member,
                    answer,
                    dropped,
                    lambda m, a: _advert(aggregator, keys.get(m), round_id, m, a, signatures),
                )
            self._enough(len(aggregator.adverts), "answered the advertise step")
            roster = aggregator.close_adverts()
            # 2. share
            aggregator.add_shares(me, own.share(roster))
            others = [m for m in roster.members() if m != me]
            answers = await self._ask(
                round_id,
                "share",
                {m: {"roster": roster.to_json(), "signatures": signatures} for m in others},
            )
            for member, answer in answers.items():
                self._take(
                    member, answer, dropped, lambda m, a: aggregator.add_shares(m, a["shares"])
                )
            inboxes = aggregator.close_shares()
            self._enough(len(aggregator.u2), "shared")
            # 3. collect
            vector = await asyncio.to_thread(self._own_vector, period)
            survivors2 = list(aggregator.u2)
            aggregator.add_masked(me, own.masked_input(vector, survivors2, inboxes[me]))
            del vector
            others = [m for m in survivors2 if m != me]
            answers = await self._ask(
                round_id,
                "collect",
                {m: {"survivors": survivors2, "inbox": inboxes[m]} for m in others},
            )
            for member, answer in answers.items():
                self._take(
                    member,
                    answer,
                    dropped,
                    lambda m, a: aggregator.add_masked(m, _unwords(a["masked"], len(layout()))),
                )
            self._enough(len(aggregator.masked), "sent their masked figures")
            survivors3 = aggregator.close_collect()
            # 4. consistency: every survivor signs the one list U3
            own.consistency(survivors3)
            agreed = {me: sign_survivors(self.identity, round_id, survivors3)}
            others = [m for m in survivors3 if m != me]
            answers = await self._ask(
                round_id, "consistency", {m: {"survivors": survivors3} for m in others}
            )
            keys = await asyncio.to_thread(self._keys, survivors3)
            for member, answer in answers.items():
                self._take(
                    member,
                    answer,
                    dropped,
                    lambda m, a: _agreed(round_id, survivors3, keys, m, a, agreed),
                )
            if len(agreed) < aggregator.roster_threshold():
                raise RoundFailed(
                    f"{len(agreed)} members signed the survivors list, "
                    f"{aggregator.roster_threshold()} needed"
                )
            # 5. unmask: only the members that signed are asked (the others refuse)
            aggregator.add_reveal(own.unmask(survivors3, set(agreed)))
            others = [m for m in sorted(agreed) if m != me]
            answers = await self._ask(
                round_id,
                "unmask",
                {m: {"survivors": survivors3, "signatures": agreed} for m in others},
            )
            for member, answer in answers.items():
                self._take(
                    member,
                    answer,
                    dropped,
                    lambda m, a: _reveal(aggregator, m, a),
                )
            totals = aggregator.finish()
        except (RoundFailed, secagg.SecAggError) as exc:
            reason = str(exc)
            await asyncio.to_thread(
                self._close, round_id, actor, started, began, None, aggregator, dropped, reason
            )
            raise ServiceUnavailable(
                f"aggregation round {round_id} failed: {reason} / 汇总轮次失败",
                errors=[FieldError("members", reason)],
                retry_after=60,
            ) from None
        await asyncio.to_thread(
            self._close, round_id, actor, started, began, totals, aggregator, dropped, None
        )
        return await asyncio.to_thread(get_round, self.engine, round_id)

    def _keys(self, members: list[str]) -> dict[str, Ed25519PublicKey]:
        with self.engine.connect() as conn:
            return member_keys(conn, members)

    def _enough(self, count: int, what: str) -> None:
        minimum = minimum_contributors(self.min_contributors)
        if count < minimum:
            raise RoundFailed(f"{count} members {what}, {minimum} needed")

    @staticmethod
    def _take(
        member: str,
        answer: dict[str, Any] | Exception,
        dropped: dict[str, str],
        accept: Callable[[str, dict[str, Any]], None],
    ) -> None:
        if isinstance(answer, Exception):
            dropped.setdefault(member, type(answer).__name__)
            return
        try:
            accept(member, answer)
        except (secagg.SecAggError, KeyError, TypeError, ValueError, AttributeError) as exc:
            dropped.setdefault(member, f"bad answer: {type(exc).__name__}")

    async def _ask(
        self, round_id: str, step: str, payloads: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any] | Exception]:
        path = f"/v1/alliance/peer/aggregations/{round_id}/{step}"

        async def one(member: str, payload: dict[str, Any]) -> dict[str, Any] | Exception:
            try:
                return await asyncio.wait_for(
                    self.client.post(member, path, payload, self.step_timeout_s),
                    self.step_timeout_s + 5,
                )
            except (PeerError, TimeoutError) as exc:
                return exc

        members = sorted(payloads)
        results = await asyncio.gather(*(one(m, payloads[m]) for m in members))
        await asyncio.to_thread(self._set_step, round_id, step)
        return dict(zip(members, results, strict=True))

    def _own_vector(self, period: str) -> list[int]:
        with self.engine.connect() as conn:
            return own_vector(conn, period)

    def _open(
        self, round_id: str, period: str, participants: list[str], actor: str, at: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(AllianceRound).values(
                    round_id=round_id,
                    period=period,
                    layout=layout(),
                    participants=sorted(participants),
                    dropped=[],
                    step="advertise",
                    totals=None,
                    started_by=actor,
                    started_at=at,
                    finished_at=None,
                    detail={},
                )
            )

    def _set_step(self, round_id: str, step: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(AllianceRound).where(AllianceRound.round_id == round_id).values(step=step)
            )

    def _close(
        self,
        round_id: str,
        actor: str,
        started: datetime,
        began: float,
        totals: list[int] | None,
        aggregator: secagg.Aggregator,
        dropped: dict[str, str],
        failure: str | None,
    ) -> None:
        finished = self.clock()
        took_ms = (time.perf_counter() - began) * 1000.0
        participants = list(aggregator.u3) if totals is not None else []
        asked = sorted(aggregator.adverts) + sorted(dropped)
        gone = sorted(set(asked) - set(participants))
        detail: dict[str, Any] = {"took_ms": round(took_ms, 1)}
        if failure is not None:
            detail["failure"] = failure
        # why each member was dropped: the kind of failure only (a timeout, a refusal)
        detail["dropped_because"] = {m: dropped.get(m, "left the round") for m in gone}
        with self.engine.begin() as conn:
            conn.execute(
                update(AllianceRound)
                .where(AllianceRound.round_id == round_id)
                .values(
                    step="done" if totals is not None else "failed",
                    participants=participants if totals is not None else sorted(asked),
                    dropped=gone if totals is not None else sorted(dropped),
                    totals=totals,
                    finished_at=finished,
                    detail=detail,
                )
            )
            _exchange(
                conn,
                role="aggregator",
                peer="*",
                round_id=round_id,
                items=aggregator.vector_length,
                status="done" if totals is not None else "failed",
                actor=actor,
                started_at=started,
                finished_at=finished,
                matched=len(participants) if totals is not None else None,
                detail={"participants": len(participants), "dropped": len(gone)}
                | ({"reason": failure} if failure else {}),
            )
            audit.record(
                conn,
                actor,
                "alliance.aggregation.run",
                round_id,
                detail={
                    "participants": len(participants),
                    "dropped": len(gone),
                    "status": "done" if totals is not None else "failed",
                },
            )


def _advert(
    aggregator: secagg.Aggregator,
    key: Ed25519PublicKey | None,
    round_id: str,
    member: str,
    answer: dict[str, Any],
    signatures: dict[str, str],
) -> None:
    """Take ``member``'s advert if signed by it (the contributors check it again)."""
    advert = secagg.Advert.from_json(answer["advert"])
    if advert.member != member:
        raise secagg.SecAggError(f"{member} advertised as {advert.member}")
    signature = answer.get("advert_signature")
    try:
        if key is None or not isinstance(signature, str):
            raise ValueError("unsigned")
        key.verify(
            base64.b64decode(signature.encode("ascii"), validate=True),
            advert_message(round_id, advert),
        )
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        raise secagg.SecAggError(f"the advert of {member} is not signed by it") from None
    aggregator.add_advert(advert)
    signatures[member] = signature


def _agreed(
    round_id: str,
    survivors: list[str],
    keys: dict[str, Ed25519PublicKey],
    member: str,
    answer: dict[str, Any],
    agreed: dict[str, str],
) -> None:
    """Take ``member``'s signature on the survivors list if it verifies (the contributors
    check every signature again before revealing)."""
    signature = answer["consistency_signature"]
    if member not in verified_signers(round_id, survivors, {member: signature}, keys):
        raise secagg.SecAggError(f"{member} did not sign the survivors list")
    agreed[member] = signature


def _reveal(aggregator: secagg.Aggregator, member: str, answer: dict[str, Any]) -> None:
    reveal = secagg.Reveal.from_json(answer["reveal"])
    if reveal.member != member:
        raise secagg.SecAggError(f"{member} revealed as {reveal.member}")
    aggregator.add_reveal(reveal)
