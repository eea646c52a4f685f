"""All SQL of the decisions area (polar's rule: queries live in repositories)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, String, bindparam, delete, func, insert, or_, select, update

from lendguard.models import (
    ChallengeResponse,
    ChallengerRun,
    ChallengerScore,
    DecisionRecord,
    EventRecord,
    LabelRecord,
    ListEntry,
    ModelActivation,
    ModelVersion,
    RuleSetActivation,
    RuleSetVersion,
    ShadowDecision,
    ShadowRun,
    Suppression,
)

_INSERT_EVENT = insert(EventRecord)
_INSERT_DECISION = insert(DecisionRecord)
_EVENT_HASH = select(EventRecord.body_hash).where(EventRecord.event_id == bindparam("event_id"))
_MAX_SEQ = select(func.max(EventRecord.seq))
_DECISION_COLUMNS = list(DecisionRecord.__table__.columns)


# -- shared shapes: immutable versions with an activation log, and start/stop runs -------------
# (rule sets and models are both "versions"; shadow rule sets and challenger models are "runs")


def _insert_version(conn: Connection, table: Any, row: dict[str, Any]) -> int:
    result = conn.execute(insert(table).returning(table.version), row)
    return int(result.scalar_one())


def _get_version(conn: Connection, table: Any, version: int) -> dict[str, Any] | None:
    row = conn.execute(select(*table.__table__.columns).where(table.version == version)).first()
    return None if row is None else dict(row._mapping)


def _list_versions(conn: Connection, table: Any, leave_out: str) -> list[dict[str, Any]]:
    """Every version, oldest first, without its (large) ``leave_out`` column."""
    cols = [c for c in table.__table__.columns if c.name != leave_out]
    return [dict(r._mapping) for r in conn.execute(select(*cols).order_by(table.version))]


def _latest_activation(conn: Connection, activation: Any) -> int | None:
    return conn.execute(select(activation.version).order_by(activation.id.desc()).limit(1)).scalar()


def _add_activation(
    conn: Connection, activation: Any, version: int, actor: str, at: datetime
) -> None:
    conn.execute(
        insert(activation), {"version": version, "activated_at": at, "activated_by": actor}
    )


def _start_run(
    conn: Connection, run: Any, version_field: str, version: int, actor: str, at: datetime
) -> None:
    """Stop whatever run is going, then start this one (one run at a time)."""
    _stop_run(conn, run, at)
    conn.execute(insert(run), {version_field: version, "started_at": at, "started_by": actor})


def _stop_run(conn: Connection, run: Any, at: datetime) -> None:
    conn.execute(update(run).where(run.stopped_at.is_(None)).values(stopped_at=at))


def _running_version(conn: Connection, run: Any, version_column: Any) -> int | None:
    return conn.execute(
        select(version_column).where(run.stopped_at.is_(None)).order_by(run.id.desc()).limit(1)
    ).scalar()


def _insert_outcomes(
    conn: Connection,
    decision_rows: list[dict[str, Any]],
    shadow_rows: list[dict[str, Any]],
    challenger_rows: list[dict[str, Any]] | None,
) -> None:
    """What a group of decided events adds beside the events: decisions and twin records."""
    conn.execute(_INSERT_DECISION, decision_rows)
    if shadow_rows:
        conn.execute(insert(ShadowDecision), shadow_rows)
    if challenger_rows:
        conn.execute(insert(ChallengerScore), challenger_rows)


class DecisionRepository:
    # -- events and decisions ------------------------------------------------------------------

    def find_by_event_id(
        self, conn: Connection, event_id: str
    ) -> tuple[str, dict[str, Any]] | None:
        """(body hash, decision) of an event already decided, or None."""
        row = conn.execute(
            select(EventRecord.body_hash, *_DECISION_COLUMNS)
            .join(DecisionRecord, DecisionRecord.event_id == EventRecord.event_id)
            .where(EventRecord.event_id == event_id)
        ).first()
        if row is None:
            return None
        data = dict(row._mapping)
        body_hash = data.pop("body_hash")
        return body_hash, data

    def event_hash(self, conn: Connection, event_id: str) -> str | None:
        """The body hash of an event already stored (the idempotency check)."""
        return conn.execute(_EVENT_HASH, {"event_id": event_id}).scalar()

    def top_seq(self, conn: Connection) -> int:
        """The highest event ``seq`` in the log (0 when empty): at least the number of events."""
        return int(conn.execute(_MAX_SEQ).scalar() or 0)

    def event_body(self, conn: Connection, event_id: str) -> dict[str, Any] | None:
        """The stored body of an event (as its release wrote it), or None."""
        body = conn.execute(
            select(EventRecord.body).where(EventRecord.event_id == event_id)
        ).scalar()
        return dict(body) if isinstance(body, dict) else None

    def insert_events_and_decisions(
        self,
        conn: Connection,
        event_rows: list[dict[str, Any]],
        decision_rows: list[dict[str, Any]],
        shadow_rows: list[dict[str, Any]],
        challenger_rows: list[dict[str, Any]] | None = None,
    ) -> int:
        """Insert a group of events and their decisions; return the highest event ``seq``."""
        conn.execute(_INSERT_EVENT, event_rows)
        _insert_outcomes(conn, decision_rows, shadow_rows, challenger_rows)
        return int(conn.execute(_MAX_SEQ).scalar_one())

    def commit_group(
        self,
        conn: Connection,
        event_rows: list[dict[str, Any]],
        decision_rows: list[dict[str, Any]],
        shadow_rows: list[dict[str, Any]],
        challenger_rows: list[dict[str, Any]] | None = None,
    ) -> int:
        with conn.begin():
            return self.insert_events_and_decisions(
                conn, event_rows, decision_rows, shadow_rows, challenger_rows
            )

    # -- the shared-state path (several processes) ---------------------------------------------

    def event_hashes(self, conn: Connection, event_ids: list[str]) -> dict[str, str]:
        """Body hashes of the events among these already stored (one query for a group)."""
        if not event_ids:
            return {}
        rows = conn.execute(
            select(EventRecord.event_id, EventRecord.body_hash).where(
                EventRecord.event_id.in_(event_ids)
            )
        ).all()
        return {str(r.event_id): str(r.body_hash) for r in rows}

    def insert_group(
        self,
        conn: Connection,
        event_rows: list[dict[str, Any]],
        decision_rows: list[dict[str, Any]],
        shadow_rows: list[dict[str, Any]],
        challenger_rows: list[dict[str, Any]],
    ) -> list[int]:
        """Insert a group inside the caller's transaction; return each event's ``seq``, in
        order (the log follower of this process skips them: it folded them already)."""
        seqs = (
            conn.execute(
                insert(EventRecord).returning(EventRecord.seq, sort_by_parameter_order=True),
                event_rows,
            )
            .scalars()
            .all()
        )
        _insert_outcomes(conn, decision_rows, shadow_rows, challenger_rows)
        return [int(seq) for seq in seqs]

    def events_after_seq(
        self, conn: Connection, seq: int, limit: int = 5_000
    ) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` events committed with a ``seq`` above this one, in ``seq`` order."""
        rows = conn.execute(
            select(EventRecord.seq, EventRecord.body)
            .where(EventRecord.seq > seq)
            .order_by(EventRecord.seq)
            .limit(limit)
        ).all()
        return [(int(r.seq), r.body) for r in rows]

    def events_at_seqs(self, conn: Connection, seqs: list[int]) -> list[tuple[int, dict[str, Any]]]:
        """The events with these ``seq`` values that are committed now (gaps being waited for)."""
        rows = conn.execute(
            select(EventRecord.seq, EventRecord.body)
            .where(EventRecord.seq.in_(seqs))
            .order_by(EventRecord.seq)
        ).all()
        return [(int(r.seq), r.body) for r in rows]

    # -- labels --------------------------------------------------------------------------------

    def event_keys_source(
        self, conn: Connection, event_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        rows = conn.execute(
            select(EventRecord.event_id, EventRecord.body).where(
                EventRecord.event_id.in_(event_ids)
            )
        ).all()
        return {str(r.event_id): r.body for r in rows}

    def insert_labels(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        ids = []
        for row in rows:
            result = conn.execute(insert(LabelRecord).returning(LabelRecord.id), row)
            ids.append(int(result.scalar_one()))
        return ids

    def labels_after(self, conn: Connection, label_id: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(
                LabelRecord.id,
                LabelRecord.event_id,
                LabelRecord.label,
                LabelRecord.known_at,
                EventRecord.body,
            )
            .join(EventRecord, EventRecord.event_id == LabelRecord.event_id)
            .where(LabelRecord.id > label_id)
            .order_by(LabelRecord.id)
        ).all()
        return [dict(r._mapping) for r in rows]

    # -- champion and challenger ---------------------------------------------------------------

    def start_challenger(self, conn: Connection, version: int, actor: str, at: datetime) -> None:
        _start_run(conn, ChallengerRun, "version", version, actor, at)

    def stop_challenger(self, conn: Connection, at: datetime) -> None:
        _stop_run(conn, ChallengerRun, at)

    def running_challenger(self, conn: Connection) -> int | None:
        return _running_version(conn, ChallengerRun, ChallengerRun.version)

    def challenger_scores(self, conn: Connection, version: int) -> list[dict[str, Any]]:
        """Scores of both models, with the latest label of each event where one exists."""
        latest = (
            select(LabelRecord.event_id, func.max(LabelRecord.id).label("label_id"))
            .group_by(LabelRecord.event_id)
            .subquery()
        )
        rows = conn.execute(
            select(
                ChallengerScore.champion_version,
                ChallengerScore.champion_score,
                ChallengerScore.challenger_score,
                LabelRecord.label,
            )
            .select_from(ChallengerScore)
            .outerjoin(latest, latest.c.event_id == ChallengerScore.event_id)
            .outerjoin(LabelRecord, LabelRecord.id == latest.c.label_id)
            .where(ChallengerScore.challenger_version == version)
            .order_by(ChallengerScore.id)
        ).all()
        return [dict(r._mapping) for r in rows]

    # -- model registry ------------------------------------------------------------------------

    def insert_model(self, conn: Connection, row: dict[str, Any]) -> int:
        return _insert_version(conn, ModelVersion, row)

    def get_model(self, conn: Connection, version: int) -> dict[str, Any] | None:
        return _get_version(conn, ModelVersion, version)

    def list_models(self, conn: Connection) -> list[dict[str, Any]]:
        return _list_versions(conn, ModelVersion, leave_out="booster")

    def active_model(self, conn: Connection) -> int | None:
        return _latest_activation(conn, ModelActivation)

    def activate_model(self, conn: Connection, version: int, actor: str, at: datetime) -> None:
        _add_activation(conn, ModelActivation, version, actor, at)

    # -- shadow mode ---------------------------------------------------------------------------

    def start_shadow(self, conn: Connection, version: int, actor: str, at: datetime) -> None:
        _start_run(conn, ShadowRun, "ruleset_version", version, actor, at)

    def stop_shadow(self, conn: Connection, at: datetime) -> None:
        _stop_run(conn, ShadowRun, at)

    def running_shadow(self, conn: Connection) -> int | None:
        return _running_version(conn, ShadowRun, ShadowRun.ruleset_version)

    def shadow_transitions(self, conn: Connection, version: int) -> list[tuple[str, str, int]]:
        rows = conn.execute(
            select(ShadowDecision.live_action, ShadowDecision.action, func.count())
            .where(ShadowDecision.ruleset_version == version)
            .group_by(ShadowDecision.live_action, ShadowDecision.action)
        ).all()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def shadow_differences(
        self, conn: Connection, version: int, limit: int
    ) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(
                ShadowDecision.event_id,
                ShadowDecision.decision_id,
                ShadowDecision.live_ruleset_version,
                ShadowDecision.live_action,
                ShadowDecision.action,
                ShadowDecision.score,
                ShadowDecision.reasons,
                ShadowDecision.decided_at,
            )
            .where(
                ShadowDecision.ruleset_version == version,
                ShadowDecision.live_action != ShadowDecision.action,
            )
            .order_by(ShadowDecision.id.desc())
            .limit(limit)
        ).all()
        return [dict(r._mapping) for r in rows]

    # -- reads for the console and the CLI -------------------------------------------------------

    def actions_by_hour(
        self, conn: Connection, since: datetime
    ) -> tuple[list[tuple[str, str, int]], Counter[str]]:
        """The decisions made since ``since`` counted by the UTC hour of their event
        (``YYYY-MM-DD HH``) and action, and the reason codes of the latest 5,000 interventions
        among them. Events marked ``attributes.warmup`` (history loaded only to build window
        state) are not outcomes and are left out."""
        warmup = EventRecord.body["attributes"]["warmup"].as_boolean()
        counted = (
            DecisionRecord.decided_at >= since,
            or_(warmup.is_(None), warmup.is_(False)),
        )
        hour = _hour_of(DecisionRecord.occurred_at, conn.dialect.name)
        rows = conn.execute(
            select(hour, DecisionRecord.action, func.count())
            .select_from(DecisionRecord)
            .outerjoin(EventRecord, EventRecord.event_id == DecisionRecord.event_id)
            .where(*counted)
            .group_by(hour, DecisionRecord.action)
        ).all()
        recent = conn.execute(
            select(DecisionRecord.reasons)
            .select_from(DecisionRecord)
            .outerjoin(EventRecord, EventRecord.event_id == DecisionRecord.event_id)
            .where(*counted, DecisionRecord.action != "allow")
            .order_by(DecisionRecord.decided_at.desc())
            .limit(5000)
        ).scalars()
        reasons = Counter(r["code"] for decision in recent for r in decision)
        return [(str(bucket), str(action), int(count)) for bucket, action, count in rows], reasons

    def latest_decisions(
        self, conn: Connection, action: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The latest ``limit`` decisions, newest first, of one action or of all."""
        query = select(*_DECISION_COLUMNS).order_by(DecisionRecord.decided_at.desc()).limit(limit)
        if action is not None:
            query = query.where(DecisionRecord.action == action)
        return [dict(r._mapping) for r in conn.execute(query)]

    def customer_events(
        self, conn: Connection, customer_id: str, limit: int
    ) -> list[dict[str, Any]]:
        """A customer's latest ``limit`` events (id, type, time, body), newest first."""
        rows = conn.execute(
            select(
                EventRecord.event_id, EventRecord.type, EventRecord.occurred_at, EventRecord.body
            )
            .where(EventRecord.customer_id == customer_id)
            .order_by(EventRecord.occurred_at.desc())
            .limit(limit)
        ).all()
        return [dict(r._mapping) for r in rows]

    def latest_label_per_event(self, conn: Connection) -> dict[str, int]:
        """Every labelled event with its latest label (labels in the order they were written)."""
        latest: dict[str, int] = {}
        for event_id, label in conn.execute(
            select(LabelRecord.event_id, LabelRecord.label).order_by(LabelRecord.id)
        ):
            latest[event_id] = int(label)
        return latest

    def get_decision_row(self, conn: Connection, decision_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_DECISION_COLUMNS).where(DecisionRecord.decision_id == decision_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def follow_up_of(self, conn: Connection, decision_id: str) -> dict[str, Any] | None:
        """The follow-up decision a challenge's answers gave (issue #19), or None."""
        row = conn.execute(
            select(*ChallengeResponse.__table__.columns).where(
                ChallengeResponse.decision_id == decision_id
            )
        ).first()
        return None if row is None else follow_up_view(row)

    def customer_decisions(
        self, conn: Connection, customer_id: str, limit: int, before: datetime | None
    ) -> list[dict[str, Any]]:
        query = select(*_DECISION_COLUMNS).where(DecisionRecord.customer_id == customer_id)
        if before is not None:
            query = query.where(DecisionRecord.decided_at < before)
        query = query.order_by(DecisionRecord.decided_at.desc()).limit(limit)
        return [dict(r._mapping) for r in conn.execute(query)]

    def model_scores_since(
        self, conn: Connection, model_version: str, since: datetime
    ) -> list[tuple[datetime, float]]:
        rows = conn.execute(
            select(DecisionRecord.decided_at, DecisionRecord.model_score).where(
                DecisionRecord.model_version == model_version,
                DecisionRecord.decided_at >= since,
                DecisionRecord.model_score.is_not(None),
            )
        ).all()
        return [(at, float(score)) for at, score in rows if score is not None]

    def latest_events(self, conn: Connection, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` logged event bodies, oldest first."""
        rows = (
            conn.execute(select(EventRecord.body).order_by(EventRecord.seq.desc()).limit(limit))
            .scalars()
            .all()
        )
        return list(reversed(rows))

    def events_after(
        self, conn: Connection, seq: int, chunk: int = 5_000
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        last = seq
        while True:
            rows = conn.execute(
                select(EventRecord.seq, EventRecord.body)
                .where(EventRecord.seq > last)
                .order_by(EventRecord.seq)
                .limit(chunk)
            ).all()
            if not rows:
                return
            for row in rows:
                yield int(row.seq), row.body
            last = int(rows[-1].seq)

    # -- rule sets -----------------------------------------------------------------------------

    def insert_ruleset(self, conn: Connection, row: dict[str, Any]) -> int:
        return _insert_version(conn, RuleSetVersion, row)

    def get_ruleset(self, conn: Connection, version: int) -> dict[str, Any] | None:
        return _get_version(conn, RuleSetVersion, version)

    def list_rulesets(self, conn: Connection) -> list[dict[str, Any]]:
        return _list_versions(conn, RuleSetVersion, leave_out="source")

    def active_version(self, conn: Connection) -> int | None:
        return _latest_activation(conn, RuleSetActivation)

    def activate(self, conn: Connection, version: int, actor: str, at: datetime) -> None:
        _add_activation(conn, RuleSetActivation, version, actor, at)

    # -- lists and suppressions ----------------------------------------------------------------

    def insert_list_entry(self, conn: Connection, row: dict[str, Any]) -> int:
        return int(conn.execute(insert(ListEntry).returning(ListEntry.id), row).scalar_one())

    def insert_suppression(self, conn: Connection, row: dict[str, Any]) -> int:
        return int(conn.execute(insert(Suppression).returning(Suppression.id), row).scalar_one())

    def delete_list_entry(self, conn: Connection, entry_id: int) -> bool:
        return bool(conn.execute(delete(ListEntry).where(ListEntry.id == entry_id)).rowcount)

    def delete_suppression(self, conn: Connection, suppression_id: int) -> bool:
        done = conn.execute(delete(Suppression).where(Suppression.id == suppression_id))
        return bool(done.rowcount)

    def list_entries(self, conn: Connection) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(*ListEntry.__table__.columns))]

    def suppressions(self, conn: Connection) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(*Suppression.__table__.columns))]


decision_repository = DecisionRepository()


def _hour_of(column: Any, dialect: str) -> Any:
    """The UTC hour of a stored time as text, ``YYYY-MM-DD HH``: counts are grouped by hour in
    the database and the hours put into the operator's days by the caller (a zone with a
    half-hour offset gets each hour on the day it starts)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24", type_=String)
    return func.substr(column, 1, 13, type_=String)  # SQLite keeps 'YYYY-MM-DD HH:MM:SS' (UTC)


def _sqlite_datetime(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores for an aware datetime, in UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class SqliteHotPath:
    """The per-event statements on SQLite, issued on the DBAPI cursor.

    SQLAlchemy's statement execution costs about 50 µs per call in Python, more than SQLite's own
    work for these inserts; on the embedded default the hot path therefore binds the same SQL by
    hand, storing values exactly as the ORM types do (UTC text datetimes, JSON text), so every
    other reader keeps using SQLAlchemy unchanged. Other databases use the Core statements.
    """

    _HASH = "SELECT body_hash FROM events WHERE event_id = ?"
    _EVENT = (
        "INSERT INTO events (event_id, customer_id, type, occurred_at, body_hash, body, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    _DECISION = (
        "INSERT INTO decisions (decision_id, event_id, customer_id, event_type, occurred_at, "
        "action, score, model_score, reasons, measures, messages, guardrails, ruleset_version, "
        "model_version, model_reasons, latency_us, decided_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    _SHADOW = (
        "INSERT INTO shadow_decisions (ruleset_version, event_id, decision_id, "
        "live_ruleset_version, live_action, action, score, reasons, decided_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    _CHALLENGER = (
        "INSERT INTO challenger_scores (challenger_version, champion_version, event_id, "
        "champion_score, challenger_score, decided_at) VALUES (?, ?, ?, ?, ?, ?)"
    )
    _MAX_SEQ = "SELECT max(seq) FROM events"

    @staticmethod
    def _cursor(conn: Connection) -> Any:
        return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def commit_group(
        self,
        conn: Connection,
        event_rows: list[dict[str, Any]],
        decision_rows: list[dict[str, Any]],
        shadow_rows: list[dict[str, Any]],
        challenger_rows: list[dict[str, Any]] | None = None,
    ) -> int:
        """Insert and commit on the DBAPI connection (SQLAlchemy's transaction bookkeeping
        costs more than the commit itself here); roll back on any error."""
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        try:
            seq = self.insert_events_and_decisions(
                conn, event_rows, decision_rows, shadow_rows, challenger_rows
            )
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        return seq

    def event_hash(self, conn: Connection, event_id: str) -> str | None:
        cursor = self._cursor(conn)
        try:
            row = cursor.execute(self._HASH, (event_id,)).fetchone()
        finally:
            cursor.close()
        return None if row is None else str(row[0])

    def insert_events_and_decisions(
        self,
        conn: Connection,
        event_rows: list[dict[str, Any]],
        decision_rows: list[dict[str, Any]],
        shadow_rows: list[dict[str, Any]],
        challenger_rows: list[dict[str, Any]] | None = None,
    ) -> int:
        cursor = self._cursor(conn)
        events, decisions = [], []
        for e, d in zip(event_rows, decision_rows, strict=True):
            occurred = _sqlite_datetime(e["occurred_at"])
            received = _sqlite_datetime(e["received_at"])
            decided = (
                received
                if d["decided_at"] is e["received_at"]
                else (_sqlite_datetime(d["decided_at"]))
            )
            events.append(
                (
                    e["event_id"],
                    e["customer_id"],
                    e["type"],
                    occurred,
                    e["body_hash"],
                    _json(e["body"]),
                    received,
                )
            )
            decisions.append(
                (
                    d["decision_id"],
                    d["event_id"],
                    d["customer_id"],
                    d["event_type"],
                    occurred,
                    d["action"],
                    d["score"],
                    d["model_score"],
                    _json(d["reasons"]),
                    _json(d["measures"]),
                    _json(d["messages"]),
                    _json(d["guardrails"]),
                    d["ruleset_version"],
                    d["model_version"],
                    None if d.get("model_reasons") is None else _json(d["model_reasons"]),
                    d["latency_us"],
                    decided,
                )
            )
        try:
            cursor.executemany(self._EVENT, events)
            cursor.executemany(self._DECISION, decisions)
            if shadow_rows:
                cursor.executemany(
                    self._SHADOW,
                    [
                        (
                            r["ruleset_version"],
                            r["event_id"],
                            r["decision_id"],
                            r["live_ruleset_version"],
                            r["live_action"],
                            r["action"],
                            r["score"],
                            _json(r["reasons"]),
                            _sqlite_datetime(r["decided_at"]),
                        )
                        for r in shadow_rows
                    ],
                )
            if challenger_rows:
                cursor.executemany(
                    self._CHALLENGER,
                    [
                        (
                            r["challenger_version"],
                            r["champion_version"],
                            r["event_id"],
                            r["champion_score"],
                            r["challenger_score"],
                            _sqlite_datetime(r["decided_at"]),
                        )
                        for r in challenger_rows
                    ],
                )
            return int(cursor.execute(self._MAX_SEQ).fetchone()[0])
        finally:
            cursor.close()


sqlite_hot_path = SqliteHotPath()


def follow_up_view(row: Any) -> dict[str, Any]:
    """A stored challenge response (a row of ``challenge_responses``, or the model) as the
    ``FollowUpDecision`` the API shows."""
    return {
        "decision_id": row.follow_up_decision_id,
        "follow_up_of": row.decision_id,
        "outcome": row.outcome,
        "action": row.follow_up_action,
        "score": row.follow_up_score,
        "reasons": row.follow_up_reasons,
        "measures": row.follow_up_measures,
        "messages": row.follow_up_messages,
        "release_at": row.release_at,
        "answered_at": row.answered_at,
    }
