"""Rule-set lifecycle: validate, upload, activate, shadow, compare, list.

A rule set is uploaded as a new inactive version, approved by a second principal (maker–checker)
and made live by one configuration swap; a candidate can first run in shadow beside the live
one (a twin, :mod:`lendguard.decisions.twins`) or be compared on recent history. Every
compilation of rule-set text goes through :func:`parse_ruleset` here.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import structlog
from sqlalchemy import Engine

from lendguard.auth import audit
from lendguard.decisions import engine as decision_engine
from lendguard.decisions.configuration import LiveConfiguration
from lendguard.decisions.explain import explain
from lendguard.decisions.features.compute import apply_event, open_context
from lendguard.decisions.features.links import LinkGraph
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.rules.loader import Action, RuleSet, RuleSetError, parse_ruleset
from lendguard.decisions.state import MemoryStateStore
from lendguard.decisions.twins import ShadowRuleSet, TwinKind, TwinSwitch
from lendguard.errors import Conflict, FieldError, Forbidden, NotFound, RuleSetInvalid
from lendguard.events.schemas import Event

log = structlog.get_logger()

DEFAULT_RULESET_RESOURCE = "default.yaml"

SHADOW = TwinKind(
    slot="shadow",
    start_row=repo.start_shadow,
    stop_row=repo.stop_shadow,
    running_row=repo.running_shadow,
    not_running="version {version} is not running in shadow",
    started_action="rulesets.shadow_start",
    stopped_action="rulesets.shadow_stop",
    target="ruleset:{version}",
)


def default_ruleset_text() -> str:
    return (resources.files("lendguard.decisions.rules") / DEFAULT_RULESET_RESOURCE).read_text(
        encoding="utf-8"
    )


def validate_ruleset(text: str, file: str = "upload.yaml") -> RuleSet:
    """The compiled rule set, or :class:`RuleSetInvalid` naming each problem by file:line:col."""
    try:
        return parse_ruleset(text, file=file)
    except RuleSetError as exc:
        raise RuleSetInvalid(
            "the rule set was refused",
            errors=[FieldError(f"{p.file}:{p.line}:{p.column}", p.message) for p in exc.problems],
        ) from None


def four_eyes(maker: str, checker: str, what: str) -> None:
    """Maker–checker: whoever uploaded a version can never be the one who makes it live."""
    if maker == checker:
        raise Forbidden(
            f"{what} was uploaded by {maker}; a second principal with the approver role or the "
            "'rules:approve' scope must approve it",
            errors=[FieldError("approver", "the uploader cannot approve their own change")],
        )


class RuleSets:
    """The rule-set versions and which one decides (through the shared configuration)."""

    def __init__(
        self,
        engine: Engine,
        configuration: LiveConfiguration,
        twins: TwinSwitch,
        new_link_index: Callable[[], LinkGraph],
    ) -> None:
        self.db = engine
        self.configuration = configuration
        self.twins = twins
        # A fresh, empty entity-link graph for a replay (compare_on_history).
        self._new_link_index = new_link_index

    # -- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Install the default rule set on first start; load the active one and the shadow
        that was running before the restart."""
        with self.db.begin() as conn:
            active = repo.active_version(conn)
            if active is None:
                text = default_ruleset_text()
                parsed = parse_ruleset(text, file="default.yaml")
                version = repo.insert_ruleset(conn, _ruleset_row(parsed, text, "system"))
                repo.activate(conn, version, "system", datetime.now(UTC))
                active = version
        self.load_active(active)

    def restore_shadow(self) -> None:
        self.twins.restore(SHADOW, lambda version: ShadowRuleSet(version, self.compiled(version)))

    def load_active(self, version: int) -> None:
        """Make this stored version the one deciding (start-up, activation, another
        process's activation seen by ``follow_configuration``)."""
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        ruleset = parse_ruleset(row["source"], file=f"ruleset-v{version}.yaml")
        self.configuration.swap(ruleset=ruleset, ruleset_version=version)

    # -- versions ------------------------------------------------------------------------------

    @staticmethod
    def validate(text: str, file: str = "upload.yaml") -> RuleSet:
        return validate_ruleset(text, file)

    def upload(
        self, text: str, author: str, file: str = "upload.yaml", ip: str | None = None
    ) -> dict[str, Any]:
        """A new, inactive version, audited in the transaction that stores it."""
        parsed = validate_ruleset(text, file)
        with self.db.begin() as conn:
            version = repo.insert_ruleset(conn, _ruleset_row(parsed, text, author))
            row = repo.get_ruleset(conn, version)
            audit.record(conn, author, "rulesets.upload", f"ruleset:{version}", ip)
        assert row is not None
        row.pop("source")
        row["active"] = False
        return row

    def activate(self, version: int, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Atomic: the new version is compiled first; the swap is one row, its audit entry and
        one reference (an approval that cannot be audited does not happen)."""
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        four_eyes(row["created_by"], actor, f"rule set version {version}")
        compiled = validate_ruleset(row["source"], f"ruleset-v{version}.yaml")
        with self.configuration.lock:
            with self.db.begin() as conn:
                repo.activate(conn, version, actor, datetime.now(UTC))
                audit.record(conn, actor, "rulesets.approve_activate", f"ruleset:{version}", ip)
            self.configuration.swap(ruleset=compiled, ruleset_version=version)
        log.info("ruleset.activated", version=version, actor=actor)
        row.pop("source")
        row["active"] = True
        return row

    def source(self, version: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        row["active"] = version == self.configuration.active.ruleset_version
        return row

    def list_versions(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = repo.list_rulesets(conn)
        active = self.configuration.active.ruleset_version
        for row in rows:
            row["active"] = row["version"] == active
        return rows

    def compiled(self, version: int) -> RuleSet:
        with self.db.connect() as conn:
            row = repo.get_ruleset(conn, version)
        if row is None:
            raise NotFound(f"rule set version {version} does not exist")
        return validate_ruleset(row["source"], f"ruleset-v{version}.yaml")

    # -- explanations --------------------------------------------------------------------------

    def explain_decision(self, decision: dict[str, Any], locale: str) -> dict[str, Any]:
        """The customer's explanation of a stored decision (PIPL Art. 24), with the sentences
        of the rule-set version that made it: a rule's own sentence lives in that version,
        which may no longer be live. Without it the built-in sentences are used, never a
        rule's internal description."""
        return explain(decision, locale, self._ruleset_that_made(decision.get("ruleset_version")))

    def _ruleset_that_made(self, version: Any) -> RuleSet | None:
        if not isinstance(version, int):
            return None
        config = self.configuration.active
        if version == config.ruleset_version and config.ruleset is not None:
            return config.ruleset
        try:
            row = self.source(version)
        except NotFound:
            return None
        return _compiled_version(version, str(row.get("sha256")), row["source"])

    # -- trying a candidate --------------------------------------------------------------------

    def compare_on_history(self, version: int, limit: int = 5_000) -> dict[str, Any]:
        """A quick backtest for the approval page: the last ``limit`` logged events replayed
        through fresh window state, each decided by the active rule set and by ``version``
        at the same instant. The first events see little history, so figures lean low; the
        scenario backtests (``lendguard backtest``) remain the full measure."""
        candidate = self.compiled(version)
        config = self.configuration.active
        active = config.ruleset
        assert active is not None
        with self.db.connect() as conn:
            rows = repo.latest_events(conn, limit)
        store = MemoryStateStore(engine=None)
        graph = self._new_link_index()
        live: Counter[str] = Counter()
        proposed: Counter[str] = Counter()
        changed = 0
        examples: list[dict[str, Any]] = []
        for body in rows:
            event = Event.model_validate(body)
            ctx = open_context(event, store.load, graph)
            a = decision_engine.evaluate(ctx, active, config.lists)
            b = decision_engine.evaluate(ctx, candidate, config.lists)
            apply_event(event, ctx.states, ctx)
            live[a.action.value] += 1
            proposed[b.action.value] += 1
            if a.action != b.action:
                changed += 1
                if len(examples) < 20:
                    examples.append(
                        {
                            "event_id": event.event_id,
                            "customer_id": event.customer_id,
                            "active": a.action.value,
                            "candidate": b.action.value,
                            "reasons": [r.code for r in b.reasons],
                        }
                    )
        return {
            "events": len(rows),
            "active_version": config.ruleset_version,
            "version": version,
            "active_actions": dict(live),
            "candidate_actions": dict(proposed),
            "changed": changed,
            "examples": examples,
        }

    def start_shadow(self, version: int, actor: str, ip: str | None = None) -> dict[str, Any]:
        """Run ``version`` beside the active rule set on live traffic; record, never return."""
        compiled = self.compiled(version)
        if version == self.configuration.active.ruleset_version:
            raise Conflict(
                f"version {version} is the active rule set; shadow a candidate instead",
                errors=[FieldError("version", "is active")],
            )
        self.twins.start(SHADOW, ShadowRuleSet(version, compiled), actor, ip)
        log.info("ruleset.shadow_started", version=version, actor=actor)
        return {"version": version, "shadow": True}

    def stop_shadow(self, version: int, actor: str, ip: str | None = None) -> dict[str, Any]:
        self.twins.stop(SHADOW, version, actor, ip)
        log.info("ruleset.shadow_stopped", version=version, actor=actor)
        return {"version": version, "shadow": False}

    def shadow_report(self, version: int, examples: int = 20) -> dict[str, Any]:
        """The candidate's decisions against the live ones on the same events."""
        with self.db.connect() as conn:
            if repo.get_ruleset(conn, version) is None:
                raise NotFound(f"rule set version {version} does not exist")
            transitions = repo.shadow_transitions(conn, version)
            differences = repo.shadow_differences(conn, version, examples)
        live: dict[str, int] = {}
        candidate: dict[str, int] = {}
        changed: dict[str, int] = {}
        total = 0
        for live_action, action, count in transitions:
            total += count
            live[live_action] = live.get(live_action, 0) + count
            candidate[action] = candidate.get(action, 0) + count
            if live_action != action:
                changed[f"{live_action}->{action}"] = count
        order = [a.value for a in Action]
        return {
            "version": version,
            "running": self.twins.running(SHADOW, version),
            "events": total,
            "live_actions": {a: live.get(a, 0) for a in order},
            "shadow_actions": {a: candidate.get(a, 0) for a in order},
            "differences": sum(changed.values()),
            "by_transition": changed,
            "stricter": sum(
                n
                for k, n in changed.items()
                if order.index(k.split("->")[1]) > order.index(k.split("->")[0])
            ),
            "examples": differences,
        }


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


@functools.lru_cache(maxsize=8)
def _compiled_version(version: int, sha256: str, source: str) -> RuleSet | None:
    """A past rule-set version compiled for explanations (keyed by its hash too: a test
    database reuses version numbers); None when it no longer compiles."""
    try:
        return parse_ruleset(source, file=f"ruleset-v{version}.yaml")
    except RuleSetError:
        return None
