"""The decisions service: idempotency, state, engine, durable log — in that order.

One instance per process. Decisions are serialised by a lock: the window state of a customer must
see that customer's events one at a time, and SQLite has one writer anyway. A decision is
returned only after its row is committed; the window state is updated only after that commit, so
an event that failed to be written leaves no trace.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lendguard.decisions import engine as decision_engine
from lendguard.decisions.features.compute import (
    FeatureContext,
    apply_event,
    entity_keys,
    update_profile,
)
from lendguard.decisions.features.state import StateBundle
from lendguard.decisions.policy import LIST_FIELDS, ListsView
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.rules.loader import RuleSet, RuleSetError, parse_ruleset
from lendguard.decisions.state import MemoryStateStore, StateStore
from lendguard.errors import (
    FieldError,
    IdempotencyMismatch,
    NotFound,
    RuleSetInvalid,
    ValidationFailed,
)
from lendguard.events.schemas import Event
from lendguard.kit.ids import new_id

log = structlog.get_logger()

DEFAULT_RULESET_RESOURCE = "default.yaml"


def default_ruleset_text() -> str:
    return (resources.files("lendguard.decisions.rules") / DEFAULT_RULESET_RESOURCE).read_text(
        encoding="utf-8"
    )


def validation_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic errors as ``{field, message}`` with dotted field paths."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(FieldError(field=prefix + loc, message=err["msg"]))
    return out


def parse_event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise ValidationFailed(
            "an event must be a JSON object", errors=[FieldError("body", "expected a JSON object")]
        )
    try:
        return Event.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed("the event is invalid", errors=validation_errors(exc)) from None


class DecisionService:
    def __init__(self, engine: Engine, store: StateStore | None = None) -> None:
        self.db = engine
        self.store: StateStore = store if store is not None else MemoryStateStore(engine)
        self.lock = threading.RLock()
        self.ruleset: RuleSet | None = None
        self.ruleset_version = 0
        self.lists = ListsView()

    # -- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Install the default rule set on first start, load the active one, restore state."""
        with self.db.begin() as conn:
            active = repo.active_version(conn)
            if active is None:
                text = default_ruleset_text()
                parsed = parse_ruleset(text, file="default.yaml")
                version = repo.insert_ruleset(conn, self._ruleset_row(parsed, text, "system"))
                repo.activate(conn, version, "system", datetime.now(UTC))
                active = version
        self._load_active(active)
        self.reload_lists()
        if isinstance(self.store, MemoryStateStore):
            replayed = self.store.restore(self._replay_after)
            if replayed:
                log.info("state.restored", replayed_events=replayed)

    def _replay_after(self, seq: int) -> int:
        count = 0
        with self.db.connect() as conn:
            for event_seq, body in repo.events_after(conn, seq):
                event = Event.model_validate(body)
                keys = entity_keys(event)
                states = self.store.load(keys.values())
                bundle = StateBundle(keys, states)
                update_profile(bundle.customer, event, event.occurred_at.timestamp())
                apply_event(event, bundle)
                self.store.save(states, event_seq)
                count += 1
        return count

    def _load_active(self, version: int) -> None:
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        self.ruleset = parse_ruleset(row["source"], file=f"ruleset-v{version}.yaml")
        self.ruleset_version = version

    def reload_lists(self) -> None:
        view = ListsView()
        with self.db.connect() as conn:
            entries = repo.list_entries(conn)
            suppressions = repo.suppressions(conn)
        for entry in entries:
            table = view.allow if entry["list_type"] == "allow" else view.deny
            expires = entry["expires_at"]
            table.setdefault(entry["field"], {})[entry["value"]] = (
                _epoch(expires) if expires is not None else None
            )
        for sup in suppressions:
            key = (sup["customer_id"], sup["rule_id"])
            view.suppressions[key] = max(view.suppressions.get(key, 0.0), _epoch(sup["until"]))
        self.lists = view

    def close(self) -> None:
        with self.lock:
            self.store.close()

    # -- deciding ------------------------------------------------------------------------------

    def decide(self, event: Event, *, started: float | None = None) -> dict[str, Any]:
        """Decide one validated event; the same event again returns the original decision."""
        t0 = started if started is not None else time.perf_counter()
        body = event.model_dump(mode="json", exclude_none=True)
        body_hash = hashlib.sha256(_canonical(body)).hexdigest()
        with self.lock:
            with self.db.connect() as conn:
                found = repo.find_by_event_id(conn, event.event_id)
            if found is not None:
                return self._replayed(event.event_id, body_hash, *found)
            ruleset, version = self.ruleset, self.ruleset_version
            assert ruleset is not None, "DecisionService.start() was not called"
            keys = entity_keys(event)
            states = self.store.load(keys.values())
            bundle = StateBundle(keys, states)
            ts = event.occurred_at.timestamp()
            profile_before = dict(bundle.customer.stats)
            update_profile(bundle.customer, event, ts)
            ctx = FeatureContext(event, bundle)
            result = decision_engine.evaluate(ctx, ruleset, self.lists)
            now = datetime.now(UTC)
            latency_us = int((time.perf_counter() - t0) * 1e6)
            decision = {
                "decision_id": new_id("dec"),
                "event_id": event.event_id,
                "customer_id": event.customer_id,
                "event_type": event.type.value,
                "occurred_at": event.occurred_at,
                "action": result.action.value,
                "score": result.score,
                "model_score": None,
                "reasons": [r.as_dict() for r in result.reasons],
                "measures": [m.value for m in result.measures],
                "messages": result.messages,
                "guardrails": result.guardrails,
                "ruleset_version": version,
                "model_version": None,
                "latency_us": latency_us,
                "decided_at": now,
            }
            event_row = {
                "event_id": event.event_id,
                "customer_id": event.customer_id,
                "type": event.type.value,
                "occurred_at": event.occurred_at,
                "body_hash": body_hash,
                "body": body,
                "received_at": now,
            }
            try:
                with self.db.begin() as conn:
                    seq = repo.insert_event_and_decision(conn, event_row, decision)
            except IntegrityError:
                # A concurrent writer (another process) stored this event first.
                bundle.customer.stats.clear()
                bundle.customer.stats.update(profile_before)
                with self.db.connect() as conn:
                    found = repo.find_by_event_id(conn, event.event_id)
                if found is None:
                    raise
                return self._replayed(event.event_id, body_hash, *found)
            except BaseException:
                bundle.customer.stats.clear()
                bundle.customer.stats.update(profile_before)
                raise
            apply_event(event, bundle, ctx)
            self.store.save(states, seq)
        log.debug(
            "decision.made",
            decision_id=decision["decision_id"],
            action=decision["action"],
            ruleset_version=version,
        )
        return decision

    def _replayed(
        self, event_id: str, body_hash: str, stored_hash: str, decision: dict[str, Any]
    ) -> dict[str, Any]:
        if stored_hash != body_hash:
            raise IdempotencyMismatch(
                f"event_id '{event_id}' was already used for a different event",
                errors=[FieldError("event_id", "already used with a different body")],
            )
        return decision

    def decide_raw_batch(self, raws: list[Any]) -> list[dict[str, Any]]:
        """Decide a batch: invalid items get an error entry in place and are not written."""
        out: list[dict[str, Any]] = []
        for index, raw in enumerate(raws):
            t0 = time.perf_counter()
            try:
                event = parse_event(raw)
                out.append(self.decide(event, started=t0))
            except (ValidationFailed, IdempotencyMismatch) as exc:
                out.append(
                    {
                        "error": {
                            "index": index,
                            "status": exc.status_code,
                            "title": exc.title,
                            "detail": exc.detail,
                            "errors": [
                                {"field": f"events.{index}.{e.field}", "message": e.message}
                                for e in exc.errors
                            ],
                        }
                    }
                )
        return out

    # -- reading -------------------------------------------------------------------------------

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = repo.get_decision_row(conn, decision_id)
        if row is None:
            raise NotFound(f"decision '{decision_id}' not found")
        return row

    def customer_decisions(
        self, customer_id: str, limit: int = 50, before: datetime | None = None
    ) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return repo.customer_decisions(conn, customer_id, limit, before)

    # -- rule sets -----------------------------------------------------------------------------

    @staticmethod
    def validate_ruleset(text: str, file: str = "upload.yaml") -> RuleSet:
        try:
            return parse_ruleset(text, file=file)
        except RuleSetError as exc:
            raise RuleSetInvalid(
                "the rule set was refused",
                errors=[
                    FieldError(f"{p.file}:{p.line}:{p.column}", p.message) for p in exc.problems
                ],
            ) from None

    @staticmethod
    def _ruleset_row(parsed: RuleSet, text: str, author: str) -> dict[str, Any]:
        return {
            "name": parsed.name,
            "description": parsed.description,
            "source": text,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "rule_count": len(parsed.rules),
            "created_at": datetime.now(UTC),
            "created_by": author,
        }

    def upload_ruleset(self, text: str, author: str, file: str = "upload.yaml") -> dict[str, Any]:
        parsed = self.validate_ruleset(text, file)
        with self.db.begin() as conn:
            version = repo.insert_ruleset(conn, self._ruleset_row(parsed, text, author))
            row = repo.get_ruleset(conn, version)
        assert row is not None
        row.pop("source")
        row["active"] = False
        return row

    def activate_ruleset(self, version: int, actor: str) -> dict[str, Any]:
        """Atomic: the new version is compiled first; the swap is one row and one reference."""
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        compiled = self.validate_ruleset(row["source"], f"ruleset-v{version}.yaml")
        with self.lock:
            with self.db.begin() as conn:
                repo.activate(conn, version, actor, datetime.now(UTC))
            self.ruleset, self.ruleset_version = compiled, version
        log.info("ruleset.activated", version=version, actor=actor)
        row.pop("source")
        row["active"] = True
        return row

    def list_rulesets(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = repo.list_rulesets(conn)
        for row in rows:
            row["active"] = row["version"] == self.ruleset_version
        return rows

    # -- lists ---------------------------------------------------------------------------------

    def add_list_entry(
        self,
        list_type: str,
        field: str,
        value: str,
        reason: str,
        author: str,
        expires_at: datetime | None = None,
    ) -> None:
        if list_type not in ("allow", "deny"):
            raise ValidationFailed("bad list", errors=[FieldError("list_type", "allow or deny")])
        if field not in LIST_FIELDS:
            raise ValidationFailed(
                "bad field", errors=[FieldError("field", f"one of {LIST_FIELDS}")]
            )
        with self.db.begin() as conn:
            repo.insert_list_entry(
                conn,
                {
                    "list_type": list_type,
                    "field": field,
                    "value": value,
                    "reason": reason,
                    "author": author,
                    "created_at": datetime.now(UTC),
                    "expires_at": expires_at,
                },
            )
        with self.lock:
            self.reload_lists()

    def add_suppression(
        self, customer_id: str, rule_id: str, until: datetime, reason: str, author: str
    ) -> None:
        with self.db.begin() as conn:
            repo.insert_suppression(
                conn,
                {
                    "customer_id": customer_id,
                    "rule_id": rule_id,
                    "until": until,
                    "reason": reason,
                    "author": author,
                    "created_at": datetime.now(UTC),
                },
            )
        with self.lock:
            self.reload_lists()

    def decide_many(self, events: Iterable[Event]) -> list[dict[str, Any]]:
        return [self.decide(e) for e in events]


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _canonical(body: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
