"""The decisions service: the decider plus the components that change what decides.

One instance per process. It is split by job:

* deciding and committing, the hot path (:class:`~lendguard.decisions.deciding.Decider`, which
  this class extends so ``decide`` is called without any indirection);
* the rule-set lifecycle (``service.rulesets``: upload, validate, activate, shadow, compare);
* the model registry (``service.models``: register, activate, challenger, stability);
* labels (``service.labels``) and lists and suppressions (``service.lists``).

They share one active configuration (:mod:`lendguard.decisions.configuration`): the rule set,
the model, the lists view and the twins (:mod:`lendguard.decisions.twins`) as one immutable
snapshot swapped whole under the lock, so a decision always sees one consistent configuration.

Callers change the configuration through the components (``service.rulesets.upload(...)``,
``service.models.activate(...)``); each change writes its audit entry in its own transaction.
The properties below read the active configuration; the read methods serve the faces, so no
face runs SQL on the decision tables.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, func, select

from lendguard.decisions.configuration import LiveModel
from lendguard.decisions.deciding import Decider, LinkIndexFactory
from lendguard.decisions.labels import Labels
from lendguard.decisions.lists import ListsAndSuppressions
from lendguard.decisions.models_registry import ModelRegistry
from lendguard.decisions.repository import decision_repository as repo
from lendguard.decisions.rules.loader import RuleSet
from lendguard.decisions.rulesets import DEFAULT_RULESET_RESOURCE, RuleSets, default_ruleset_text
from lendguard.decisions.state import StateStore
from lendguard.decisions.twins import ChallengerModel, ShadowRuleSet, TwinSwitch
from lendguard.models import AuditEntry

log = structlog.get_logger()

__all__ = ["DEFAULT_RULESET_RESOURCE", "DecisionService", "default_ruleset_text"]


class DecisionService(Decider):
    def __init__(
        self,
        engine: Engine,
        store: StateStore | None = None,
        pii_key: str | None = None,
        *,
        link_index: LinkIndexFactory,
    ) -> None:
        # ``link_index`` builds the entity-link graph the features read (the graph area's
        # LinkIndex in the app): handed in, so the decisions area does not import the graph.
        super().__init__(engine, link_index, store, pii_key)
        twins = TwinSwitch(engine, self.configuration)
        self.rulesets = RuleSets(engine, self.configuration, twins, self.new_link_index)
        self.models = ModelRegistry(engine, self.configuration, twins)
        self.labels = Labels(self)
        self.lists = ListsAndSuppressions(engine, self.configuration, self.pii_key)

    def start(self) -> None:
        """Install the default rule set on first start, load the active configuration (rule
        set, model, twins, lists), then restore the graph and the state from the log."""
        self._configuration_marker = self._audit_marker()
        self.rulesets.start()
        self.models.start()
        self.rulesets.restore_shadow()
        self.lists.reload()
        self.restore()
        if self._shared:
            self.configuration_follower = self.follow_configuration

    def _audit_marker(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.max(AuditEntry.id))).scalar() or 0)

    def follow_configuration(self) -> None:
        """Shared state, several processes: another process may have changed what decides (a
        rule set or model activated, a twin started or stopped, a list entry). Every such change
        is audited in its own transaction, so a newer audit entry is the cue to look again; the
        rule set and the champion are reloaded only when their active version moved."""
        marker = self._audit_marker()
        if marker == self._configuration_marker:
            return
        with self.db.connect() as conn:
            ruleset_version = repo.active_version(conn)
            model_version = repo.active_model(conn)
        active = self.configuration.active
        if ruleset_version is not None and ruleset_version != active.ruleset_version:
            self.rulesets.load_active(ruleset_version)
        if model_version != (active.model.version if active.model is not None else None):
            self.models.start()
        else:
            self.models.restore_challenger()
        self.rulesets.restore_shadow()
        self.lists.reload()
        self._configuration_marker = marker
        log.info("configuration.followed", ruleset_version=ruleset_version)

    # -- the active configuration, read (delegates to ``configuration``) ------------------------

    @property
    def ruleset(self) -> RuleSet | None:
        return self.configuration.active.ruleset

    @ruleset.setter
    def ruleset(self, ruleset: RuleSet | None) -> None:
        # (A test takes the rule set away to see readiness fail.)
        self.configuration.swap(ruleset=ruleset)

    @property
    def ruleset_version(self) -> int:
        return self.configuration.active.ruleset_version

    @property
    def model(self) -> LiveModel | None:
        return self.configuration.active.model

    @property
    def shadow(self) -> ShadowRuleSet | None:
        return self.configuration.active.shadow

    @property
    def challenger(self) -> ChallengerModel | None:
        return self.configuration.active.challenger

    # -- reads for the faces (the console, the CLI, the assistant) -----------------------------

    def decision_for_event(self, event_id: str) -> dict[str, Any] | None:
        """The decision an event already has, or None (an event decided again is answered
        with it)."""
        with self.db.connect() as conn:
            found = repo.find_by_event_id(conn, event_id)
        return None if found is None else found[1]

    def explain_decision(self, decision: dict[str, Any], locale: str) -> dict[str, Any]:
        """The customer's explanation of a stored decision (PIPL Art. 24), as the rule-set
        version that made it words it: what the privacy area's ``DecisionSource`` asks of the
        decision engine for an access request."""
        return self.rulesets.explain_decision(decision, locale)

    def actions_by_hour(self, since: datetime) -> tuple[list[tuple[str, str, int]], Counter[str]]:
        """Decisions since ``since`` by UTC event hour and action, and the reason codes of the
        interventions among them (warm-up history left out): the dashboard's figures."""
        with self.db.connect() as conn:
            return repo.actions_by_hour(conn, since)

    def latest_decisions(self, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return repo.latest_decisions(conn, action, limit)

    def customer_events(self, customer_id: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return repo.customer_events(conn, customer_id, limit)
