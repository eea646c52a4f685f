"""Twins: a candidate that runs beside the live one on the same event, recorded, never returned.

Two things are tried on live traffic before they go live: a candidate rule set (the *shadow*)
and a candidate scoring model (the *challenger*). Both are a twin of what is live: decided on
the same state at the same instant as the live decision, before the event is folded in, with
the outcome written in the same commit group as the decision and never acted on.

One mechanism serves both. A twin is an immutable ``(version, candidate)`` pair held in the
active configuration (:mod:`lendguard.decisions.configuration`); :class:`TwinSwitch` starts one
(the durable row and the configuration swap under the service lock, so a decision sees it
running or not, never half), stops one, restores the running one at start-up and says whether
a version is running. What differs between the two is only the judging: a rule set evaluates
rules, a model scores the feature row (:meth:`ShadowRuleSet.judge`,
:meth:`ChallengerModel.judge`), and the row each records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from sqlalchemy import Connection, Engine

from lendguard.auth import audit
from lendguard.decisions import engine as decision_engine
from lendguard.decisions.features.compute import FeatureContext, LazyFeatures
from lendguard.decisions.policy import ListsView
from lendguard.decisions.rules.loader import RuleSet
from lendguard.decisions.scoring.events import feature_row
from lendguard.decisions.scoring.model import ScoringModel
from lendguard.errors import NotFound

if TYPE_CHECKING:
    from lendguard.decisions.configuration import LiveConfiguration, LiveModel


class ShadowRuleSet(NamedTuple):
    """A candidate rule set deciding live traffic beside the active one."""

    version: int
    ruleset: RuleSet

    def judge(self, ctx: FeatureContext, lists: ListsView) -> decision_engine.EngineResult:
        """The candidate's decision on exactly what the live rule set saw."""
        return decision_engine.evaluate(ctx, self.ruleset, lists)

    def record(
        self, outcome: decision_engine.EngineResult, decision: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """The ``shadow_decisions`` row: the candidate's answer next to the live one."""
        return {
            "ruleset_version": self.version,
            "event_id": decision["event_id"],
            "decision_id": decision["decision_id"],
            "live_ruleset_version": decision["ruleset_version"],
            "live_action": decision["action"],
            "action": outcome.action.value,
            "score": outcome.score,
            "reasons": [r.as_dict() for r in outcome.reasons],
            "decided_at": now,
        }


class ChallengerModel(NamedTuple):
    """A candidate scoring model scoring live traffic beside the champion."""

    version: int
    model: ScoringModel

    def judge(
        self,
        values: LazyFeatures,
        champion: LiveModel | None,
        champion_row: np.ndarray | None,
    ) -> float:
        """The challenger's score; the champion's feature row is reused when the two models
        read the same features (the usual case: a retrain)."""
        same = (
            champion is not None
            and champion_row is not None
            and (self.model.features == champion.model.features)
        )
        row = champion_row if same else feature_row(values, self.model.features)
        assert row is not None
        return self.model.score_row(row)

    def record(
        self,
        score: float,
        decision: dict[str, Any],
        champion: LiveModel | None,
        champion_score: float | None,
        now: datetime,
    ) -> dict[str, Any]:
        """The ``challenger_scores`` row: both scores on the same event."""
        return {
            "challenger_version": self.version,
            "champion_version": None if champion is None else champion.version,
            "event_id": decision["event_id"],
            "champion_score": champion_score,
            "challenger_score": score,
            "decided_at": now,
        }


Twin = ShadowRuleSet | ChallengerModel


@dataclass(frozen=True)
class TwinKind:
    """Where one kind of twin lives: its slot in the configuration and its durable rows."""

    slot: Literal["shadow", "challenger"]
    # Record that ``version`` runs from now (by ``actor``), or that the running one stopped.
    start_row: Callable[[Connection, int, str, datetime], None]
    stop_row: Callable[[Connection, datetime], None]
    # The version running since before a restart, or None.
    running_row: Callable[[Connection], int | None]
    # The refusal when asked to stop a version that is not the running twin.
    not_running: str
    # How a start and a stop are audited: the actions and the target (``{version}`` filled in).
    started_action: str
    stopped_action: str
    target: str


class TwinSwitch:
    """Starts, stops and restores the twins, for both kinds alike."""

    def __init__(self, engine: Engine, configuration: LiveConfiguration) -> None:
        self.db = engine
        self.configuration = configuration

    def current(self, kind: TwinKind) -> Twin | None:
        twin: Twin | None = getattr(self.configuration.active, kind.slot)
        return twin

    def running(self, kind: TwinKind, version: int) -> bool:
        twin = self.current(kind)
        return twin is not None and twin.version == version

    def start(self, kind: TwinKind, twin: Twin, actor: str, ip: str | None = None) -> None:
        """The durable row, its audit entry and the swap together, under the lock: a decision
        sees the twin running from the one that follows, a restart finds it running again, and
        a start whose audit entry cannot be written does not happen."""
        with self.configuration.lock:
            with self.db.begin() as conn:
                kind.start_row(conn, twin.version, actor, datetime.now(UTC))
                target = kind.target.format(version=twin.version)
                audit.record(conn, actor, kind.started_action, target, ip)
            self.configuration.swap(**{kind.slot: twin})

    def stop(self, kind: TwinKind, version: int, actor: str, ip: str | None = None) -> None:
        with self.configuration.lock:
            if not self.running(kind, version):
                raise NotFound(kind.not_running.format(version=version))
            with self.db.begin() as conn:
                kind.stop_row(conn, datetime.now(UTC))
                audit.record(
                    conn, actor, kind.stopped_action, kind.target.format(version=version), ip
                )
            self.configuration.swap(**{kind.slot: None})

    def restore(self, kind: TwinKind, load: Callable[[int], Twin]) -> None:
        """At start-up: the twin that was running before the restart runs again."""
        with self.db.connect() as conn:
            version = kind.running_row(conn)
        if version is not None:
            self.configuration.swap(**{kind.slot: load(version)})
