"""Aggregation rounds over HTTP (alliance/aggregation*.py): real apps, each with its own SQLite
database and identity, mutually configured as members, each served by uvicorn on a free port.

Why real servers and not httpx ASGI transports: the aggregator's route awaits signed requests
to the others through the production :class:`PeerClient` (its own pooled httpx client, the
members' URLs from the database); with real servers nothing in that path is swapped for a test
double, and each app runs its lifespan and thread pool as in production. Starting a server
takes a fraction of a second; the whole round a second or so.

A member "going away after sharing" is its app behind an ASGI wrapper that answers every later
step 503 (unsigned, as a proxy in front of a dead process would)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from fixtures import ADMIN_KEY, served_app
from lendguard.alliance import aggregation, peer, secagg
from lendguard.alliance.aggregation import layout, own_vector
from lendguard.app import Services, create_app
from lendguard.config import Settings
from lendguard.errors import Conflict
from lendguard.models.access import AuditEntry
from lendguard.models.alliance import (
    AllianceExchange,
    AllianceMember,
    AllianceRound,
    AllianceRoundState,
)
from lendguard.models.cases import Case, CaseDecision
from lendguard.models.decision import DecisionRecord

PERIOD = "2026-01"
IN_PERIOD = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class Lender:
    member_id: str
    identity: peer.Identity
    services: Services
    url: str = ""

    @property
    def engine(self) -> Engine:
        return self.services.decisions.db


def _decision(
    decision_id: str, action: str, at: datetime, reasons: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "event_id": f"evt-{decision_id}",
        "customer_id": "cust-agg",
        "event_type": "transfer",
        "occurred_at": at,
        "action": action,
        "score": 80,
        "reasons": reasons,
        "measures": [],
        "messages": [],
        "guardrails": [],
        "ruleset_version": 1,
        "latency_us": 100,
        "decided_at": at,
    }


def seed(engine: Engine, prefix: str, mule_frauds: int, held_fen: int, takeovers: int) -> None:
    """``mule_frauds`` intercepts under cases of scam type mule resolved as fraud, the first one
    with a cancelled hold of ``held_fen``; ``takeovers`` blocks whose strongest reason is
    ACCOUNT_TAKEOVER (no case); plus a remind and a decision of another month (not counted)."""
    decisions = [
        _decision(f"{prefix}-m{i}", "intercept", IN_PERIOD + timedelta(minutes=i), [])
        for i in range(mule_frauds)
    ]
    decisions += [
        _decision(
            f"{prefix}-t{i}",
            "block",
            IN_PERIOD + timedelta(hours=1, minutes=i),
            [{"code": "ACCOUNT_TAKEOVER", "action": "block", "weight": 90}],
        )
        for i in range(takeovers)
    ]
    decisions.append(_decision(f"{prefix}-r", "remind", IN_PERIOD, []))
    decisions.append(_decision(f"{prefix}-old", "block", IN_PERIOD - timedelta(days=40), []))
    with engine.begin() as conn:
        conn.execute(insert(DecisionRecord), decisions)
        for i in range(mule_frauds):
            conn.execute(
                insert(Case).values(
                    id=f"{prefix}-case-{i}",
                    customer_id="cust-agg",
                    case_type="scam",
                    state="resolved_fraud",
                    scam_type="mule",
                    opened_at=IN_PERIOD,
                    updated_at=IN_PERIOD,
                    sla_due_at=IN_PERIOD + timedelta(hours=4),
                )
            )
            conn.execute(
                insert(CaseDecision).values(
                    case_id=f"{prefix}-case-{i}",
                    decision_id=f"{prefix}-m{i}",
                    event_id=f"evt-{prefix}-m{i}",
                    action="intercept",
                    amount=held_fen / 100 if i == 0 else 5.0,
                    hold_status="cancelled" if i == 0 else "released",
                    added_at=IN_PERIOD,
                )
            )


def _entry(totals: list[dict[str, Any]], typology: str, measure: str) -> int:
    (found,) = [t["total"] for t in totals if t["typology"] == typology and t["measure"] == measure]
    return int(found)


def _attach_alliance(services: Services, settings: Settings) -> None:
    """The alliance's gate and client, where the app's services do not build them (yet)."""
    if getattr(services, "alliance", None) is not None and services.alliance.identity is not None:  # type: ignore[attr-defined]
        return
    identity = peer.identity_from(settings)
    assert identity is not None
    engine = services.decisions.db
    services.alliance = SimpleNamespace(  # type: ignore[attr-defined]
        identity=identity,
        gate=peer.PeerGate(identity, engine),
        client=peer.PeerClient(identity, engine),
    )


class GoneAfterSharing:
    """ASGI wrapper: the member answers advertise and share (or, with ``steps`` naming the
    later ones only, also collect), then is gone (503, unsigned)."""

    def __init__(
        self, app: Any, steps: tuple[str, ...] = ("/collect", "/consistency", "/unmask")
    ) -> None:
        self.app = app
        self.steps = steps

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.endswith(self.steps):
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


@pytest.fixture
def alliance(tmp_path: Path, sqlite_template: Path) -> Iterator[Callable[..., list[Lender]]]:
    """Makes ``n`` lenders served on free ports, each configured with every other as member;
    ``gone`` names those that go away after sharing."""
    stack = ExitStack()

    def make(
        n: int,
        gone: frozenset[str] = frozenset(),
        min_contributors: int = 3,
        gone_after_collect: frozenset[str] = frozenset(),
    ) -> list[Lender]:
        lenders: list[Lender] = []
        for i in range(n):
            member_id = f"lender-{chr(ord('a') + i)}"
            path = tmp_path / f"{member_id}.db"
            path.write_bytes(sqlite_template.read_bytes())
            seed_bytes = secrets.token_bytes(32)
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite:///{path}",
                bootstrap_admin_key=ADMIN_KEY,
                log_level="WARNING",
                state_backend="memory",
                alliance_member_id=member_id,
                alliance_signing_key=base64.b64encode(seed_bytes).decode(),
                alliance_min_contributors=min_contributors,
            )
            app = create_app(settings)
            services: Services = app.state.services
            _attach_alliance(services, settings)
            served: Any = app
            if member_id in gone:
                served = GoneAfterSharing(app)
            elif member_id in gone_after_collect:
                served = GoneAfterSharing(app, ("/consistency", "/unmask"))
            url = stack.enter_context(served_app(served))  # type: ignore[arg-type]
            stack.callback(services.decisions.db.dispose)
            lenders.append(Lender(member_id, peer.Identity(member_id, seed_bytes), services, url))
        now = datetime.now(UTC)
        for lender in lenders:
            with lender.engine.begin() as conn:
                conn.execute(
                    insert(AllianceMember),
                    [
                        {
                            "member_id": other.member_id,
                            "name": other.member_id,
                            "url": other.url,
                            "public_key": other.identity.public_key_b64,
                            "status": "active",
                            "created_at": now,
                            "created_by": "test",
                        }
                        for other in lenders
                        if other is not lender
                    ],
                )
        return lenders

    with stack:
        yield make


def _start(lender: Lender, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{lender.url}/v1/alliance/aggregations", json=body, headers=ADMIN, timeout=60
    )


def test_a_round_of_three_sums_correctly(alliance: Callable[..., list[Lender]]) -> None:
    a, b, c = alliance(3)
    seed(a.engine, "a", mule_frauds=2, held_fen=12_345, takeovers=1)
    seed(b.engine, "b", mule_frauds=1, held_fen=100_000, takeovers=0)
    seed(c.engine, "c", mule_frauds=3, held_fen=7, takeovers=4)

    answer = _start(a, {"period": PERIOD})
    assert answer.status_code == 201, answer.text
    round_ = answer.json()
    assert round_["step"] == "done"
    assert round_["participants"] == ["lender-a", "lender-b", "lender-c"]
    assert round_["dropped"] == []
    totals = round_["totals"]
    assert len(totals) == len(layout())
    assert _entry(totals, "mule", "interventions") == 6
    assert _entry(totals, "mule", "confirmed_frauds") == 6
    assert _entry(totals, "mule", "losses_avoided_fen") == 12_345 + 100_000 + 7
    assert _entry(totals, "account_takeover", "interventions") == 5
    assert _entry(totals, "account_takeover", "confirmed_frauds") == 0
    # the total is the sum of each member's own vector, entry by entry
    vectors = []
    for lender in (a, b, c):
        with lender.engine.connect() as conn:
            vectors.append(own_vector(conn, PERIOD))
    assert [t["total"] for t in totals] == [sum(col) for col in zip(*vectors, strict=True)]

    # read back
    listed = httpx.get(f"{a.url}/v1/alliance/aggregations", headers=ADMIN).json()["rounds"]
    assert [r["round_id"] for r in listed] == [round_["round_id"]]
    one = httpx.get(f"{a.url}/v1/alliance/aggregations/{round_['round_id']}", headers=ADMIN)
    assert one.json() == round_
    assert (
        httpx.get(f"{a.url}/v1/alliance/aggregations/{'0' * 32}", headers=ADMIN).status_code == 404
    )

    # records: one exchange per side, counts only; the aggregator keeps no member's vector
    with a.engine.connect() as conn:
        (exchange,) = conn.execute(select(AllianceExchange)).all()
        stored = conn.execute(select(AllianceRound)).one()
        actions = conn.execute(select(AuditEntry.action)).scalars().all()
    assert (exchange.role, exchange.peer, exchange.mode, exchange.items) == (
        "aggregator",
        "*",
        "sum",
        len(layout()),
    )
    assert exchange.status == "done"
    assert exchange.matched == 3
    assert "alliance.aggregation.run" in actions
    assert set(stored.detail) <= {"took_ms", "dropped_because", "failure"}
    for lender in (b, c):
        with lender.engine.connect() as conn:
            (exchange,) = conn.execute(select(AllianceExchange)).all()
            state = conn.execute(select(AllianceRoundState)).one()
            actions = conn.execute(select(AuditEntry.action)).scalars().all()
            rounds = conn.execute(select(AllianceRound)).all()
        assert (exchange.role, exchange.peer, exchange.items) == (
            "contributor",
            "lender-a",
            len(layout()),
        )
        assert "alliance.aggregation.contribute" in actions
        assert state.step == "unmask"
        assert state.sealed == b""
        assert rounds == []


def test_a_member_gone_after_sharing_is_dropped(alliance: Callable[..., list[Lender]]) -> None:
    a, b, c, d = alliance(4, gone=frozenset({"lender-c"}))
    for lender, frauds in ((a, 1), (b, 2), (c, 4), (d, 8)):
        seed(lender.engine, lender.member_id, mule_frauds=frauds, held_fen=100, takeovers=0)
    answer = _start(a, {"period": PERIOD})
    assert answer.status_code == 201, answer.text
    round_ = answer.json()
    assert round_["participants"] == ["lender-a", "lender-b", "lender-d"]
    assert round_["dropped"] == ["lender-c"]
    assert _entry(round_["totals"], "mule", "interventions") == 1 + 2 + 8
    assert _entry(round_["totals"], "mule", "losses_avoided_fen") == 300
    # c shared, so it holds a sealed state that never went past share
    with c.engine.connect() as conn:
        assert conn.execute(select(AllianceRoundState.step)).scalar_one() == "share"
        assert conn.execute(select(AllianceExchange)).all() == []


def test_a_member_gone_after_collect_is_still_in_the_sum(
    alliance: Callable[..., list[Lender]],
) -> None:
    """e sent its masked figures, then went before signing the survivors list: four of five
    signed (t = 4), so the others reveal e's self-mask shares and e's figures are summed."""
    lenders = alliance(5, gone_after_collect=frozenset({"lender-e"}))
    for lender, frauds in zip(lenders, (1, 2, 4, 8, 16), strict=True):
        seed(lender.engine, lender.member_id, mule_frauds=frauds, held_fen=100, takeovers=0)
    answer = _start(lenders[0], {"period": PERIOD})
    assert answer.status_code == 201, answer.text
    round_ = answer.json()
    assert round_["participants"] == [lender.member_id for lender in lenders]
    assert round_["dropped"] == []
    assert _entry(round_["totals"], "mule", "interventions") == 31
    with lenders[4].engine.connect() as conn:
        assert conn.execute(select(AllianceRoundState.step)).scalar_one() == "collect"


def test_too_few_left_fails_before_unmasking(alliance: Callable[..., list[Lender]]) -> None:
    a, _b, c = alliance(3, gone=frozenset({"lender-c"}))
    answer = _start(a, {"period": PERIOD})
    assert answer.status_code == 503
    assert "2 members sent their masked figures, 3 needed" in answer.json()["detail"]
    (listed,) = httpx.get(f"{a.url}/v1/alliance/aggregations", headers=ADMIN).json()["rounds"]
    assert listed["step"] == "failed"
    assert listed["totals"] is None
    with a.engine.connect() as conn:
        assert conn.execute(select(AllianceExchange.status)).scalar_one() == "failed"


def test_a_round_with_two_members_is_refused(alliance: Callable[..., list[Lender]]) -> None:
    a, _b = alliance(2)
    answer = _start(a, {"period": PERIOD})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "members"
    with a.engine.connect() as conn:
        assert conn.execute(select(AllianceRound)).all() == []


def test_bad_bodies_are_422_naming_the_field(alliance: Callable[..., list[Lender]]) -> None:
    a, _b, _c = alliance(3)
    for body, field in (
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-1"}, "period"),
        ({}, "period"),
        ({"period": PERIOD, "members": ["lender-b", "lender-b"]}, "members"),
        ({"period": PERIOD, "members": ["nobody"]}, "members[0]"),
        ({"period": PERIOD, "members": ["lender-b"]}, "members"),
        ({"period": PERIOD, "extra": 1}, "extra"),
    ):
        answer = _start(a, body)
        assert answer.status_code == 422, (body, answer.text)
        fields = [e["field"] for e in answer.json()["errors"]]
        assert any(f.endswith(field) for f in fields), (body, fields)
    with a.engine.connect() as conn:
        assert conn.execute(select(AllianceRound)).all() == []


def test_scopes(alliance: Callable[..., list[Lender]]) -> None:
    a, _b, _c = alliance(3)
    assert (
        httpx.post(f"{a.url}/v1/alliance/aggregations", json={"period": PERIOD}).status_code == 401
    )
    assert httpx.get(f"{a.url}/v1/alliance/aggregations").status_code == 401


def test_peer_steps_need_a_signed_request_and_the_right_order(
    alliance: Callable[..., list[Lender]],
) -> None:
    a, b, c = alliance(3)
    round_id = secrets.token_hex(16)
    assert (
        httpx.post(f"{b.url}/v1/alliance/peer/aggregations/{round_id}/share", json={}).status_code
        == 401
    )

    def signed(step: str, payload: dict[str, Any], sender: Lender = a) -> httpx.Response:
        route = f"/v1/alliance/peer/aggregations/{round_id}/{step}"
        body = orjson.dumps(payload)
        now = datetime.now(UTC).timestamp()
        headers = peer.signed_headers(sender.identity, "POST", route, body, now=now)
        headers["content-type"] = "application/json"
        return httpx.post(f"{b.url}{route}", content=body, headers=headers)

    # a step before advertise: no such round; an unknown step: 404
    assert signed("share", {"roster": {}}).status_code == 404
    assert signed("bogus", {}).status_code == 404
    # another layout: refused
    assert signed("advertise", {"period": PERIOD, "layout": layout()[:3]}).status_code == 409
    ok = signed("advertise", {"period": PERIOD, "layout": layout()})
    assert ok.status_code == 200
    advert = secagg.Advert.from_json(ok.json()["advert"])
    assert advert.member == "lender-b"
    # twice: refused; out of turn: refused
    assert signed("advertise", {"period": PERIOD, "layout": layout()}).status_code == 409
    assert signed("unmask", {"survivors": ["lender-a", "lender-b", "lender-c"]}).status_code == 409
    # another member cannot drive a's round
    assert signed("share", {"roster": {}}, sender=c).status_code == 404
    # a roster of three: b shares
    others = {
        m: secagg.Contributor.start(round_id, m, len(layout())) for m in ("lender-a", "lender-c")
    }
    aggregator = secagg.Aggregator(round_id=round_id, vector_length=len(layout()))
    for contributor in others.values():
        aggregator.add_advert(contributor.advert())
    aggregator.add_advert(advert)
    roster = aggregator.close_adverts()
    # each advert signed by its member's alliance key (b refuses a roster otherwise)
    signatures = {
        m: aggregation.sign_advert(lender.identity, round_id, others[m].advert())
        for m, lender in (("lender-a", a), ("lender-c", c))
    }
    signatures["lender-b"] = ok.json()["advert_signature"]
    shared = signed("share", {"roster": roster.to_json(), "signatures": signatures})
    assert shared.status_code == 200
    assert set(shared.json()["shares"]) == {"lender-a", "lender-c"}
    # a collect where only two are left: b refuses to send its masked figures into a sum of two
    refused = signed("collect", {"survivors": ["lender-a", "lender-b"], "inbox": {}})
    assert refused.status_code == 409
    assert "2 members left, 3 needed" in refused.json()["detail"]
    with b.engine.connect() as conn:
        assert conn.execute(select(AllianceRoundState.step)).scalar_one() == "share"
        assert conn.execute(select(AllianceExchange)).all() == []


def test_month_of() -> None:
    assert aggregation.month_of("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_unconfigured_the_routes_answer_503(app_client: Any) -> None:
    client = app_client.client
    answers = [
        client.post("/v1/alliance/aggregations", json={"period": PERIOD}, headers=ADMIN),
        client.get("/v1/alliance/aggregations", headers=ADMIN),
        client.get(f"/v1/alliance/aggregations/{'0' * 32}", headers=ADMIN),
        client.post(f"/v1/alliance/peer/aggregations/{'0' * 32}/share", json={}),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert "Retry-After" in answer.headers


def test_a_contributor_forgets_an_unfinished_round(sqlite_url: str) -> None:
    """Secrets of a round left after its advertise are wiped an hour later: the next step is
    refused, and the next round's advertise wipes them from the table."""
    from lendguard.db import make_engine

    engine = make_engine(sqlite_url)
    now = [datetime(2026, 2, 1, 9, 0, tzinfo=UTC)]
    desk = aggregation.ContributorDesk(
        engine=engine,
        identity=peer.Identity("lender-b", secrets.token_bytes(32)),
        clock=lambda: now[0],
    )
    first, second = secrets.token_hex(16), secrets.token_hex(16)
    desk.answer("lender-a", first, "advertise", {"period": PERIOD, "layout": layout()})
    now[0] += aggregation.STATE_KEEP + timedelta(seconds=1)
    with pytest.raises(Conflict, match="at step expired"):
        desk.answer("lender-a", first, "share", {"roster": {}})
    desk.answer("lender-a", second, "advertise", {"period": PERIOD, "layout": layout()})
    with engine.connect() as conn:
        states = dict(
            conn.execute(select(AllianceRoundState.round_id, AllianceRoundState.sealed)).all()
        )
    assert states[first] == b""
    assert states[second] != b""
    # a round id is never reused
    with pytest.raises(Conflict, match="advertised already"):
        desk.answer("lender-a", first, "advertise", {"period": PERIOD, "layout": layout()})
    engine.dispose()
