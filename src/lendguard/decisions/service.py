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

The methods below the components (``upload_ruleset``, ``register_model``, ...) and the
properties reading the configuration (``ruleset``, ``model``, ...) delegate to them for the
callers that still use the old names (endpoints, console, cli, cases, tests); callers move to
the components in #16 integration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from lendguard.decisions.configuration import LiveModel
from lendguard.decisions.deciding import Decider, LinkIndexFactory
from lendguard.decisions.labels import Labels
from lendguard.decisions.lists import ListsAndSuppressions
from lendguard.decisions.models_registry import ModelRegistry
from lendguard.decisions.rules.loader import RuleSet
from lendguard.decisions.rulesets import (
    DEFAULT_RULESET_RESOURCE,
    RuleSets,
    default_ruleset_text,
    validate_ruleset,
)
from lendguard.decisions.state import StateStore
from lendguard.decisions.twins import ChallengerModel, ShadowRuleSet, TwinSwitch

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
        self.rulesets.start()
        self.models.start()
        self.rulesets.restore_shadow()
        self.lists.reload()
        self.restore()

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

    # -- rule sets (delegates to ``rulesets``; callers move in #16 integration) -----------------

    @staticmethod
    def validate_ruleset(text: str, file: str = "upload.yaml") -> RuleSet:
        return validate_ruleset(text, file)

    def upload_ruleset(self, text: str, author: str, file: str = "upload.yaml") -> dict[str, Any]:
        return self.rulesets.upload(text, author, file)

    def activate_ruleset(self, version: int, actor: str) -> dict[str, Any]:
        return self.rulesets.activate(version, actor)

    def ruleset_source(self, version: int) -> dict[str, Any]:
        return self.rulesets.source(version)

    def list_rulesets(self) -> list[dict[str, Any]]:
        return self.rulesets.list_versions()

    def explain_decision(self, decision: dict[str, Any], locale: str) -> dict[str, Any]:
        return self.rulesets.explain_decision(decision, locale)

    def compare_on_history(self, version: int, limit: int = 5_000) -> dict[str, Any]:
        return self.rulesets.compare_on_history(version, limit)

    def start_shadow(self, version: int, actor: str) -> dict[str, Any]:
        return self.rulesets.start_shadow(version, actor)

    def stop_shadow(self, version: int, actor: str) -> dict[str, Any]:
        return self.rulesets.stop_shadow(version, actor)

    def shadow_report(self, version: int, examples: int = 20) -> dict[str, Any]:
        return self.rulesets.shadow_report(version, examples)

    # -- models (delegates to ``models``; callers move in #16 integration) ---------------------

    def register_model(
        self, booster: str, calibration: dict[str, Any], card: dict[str, Any], author: str
    ) -> dict[str, Any]:
        return self.models.register(booster, calibration, card, author)

    def activate_model(self, version: int, actor: str) -> dict[str, Any]:
        return self.models.activate(version, actor)

    def list_models(self) -> list[dict[str, Any]]:
        return self.models.list_versions()

    def score_stability(
        self, version: int, days: int = 7, threshold: float = 0.2, min_rows: int = 50
    ) -> dict[str, Any]:
        return self.models.score_stability(version, days, threshold, min_rows)

    def start_challenger(self, version: int, actor: str) -> dict[str, Any]:
        return self.models.start_challenger(version, actor)

    def stop_challenger(self, version: int, actor: str) -> dict[str, Any]:
        return self.models.stop_challenger(version, actor)

    def challenger_report(self, version: int) -> dict[str, Any]:
        return self.models.challenger_report(version)

    # -- labels (delegates to ``labels``; callers move in #16 integration) ---------------------

    def record_labels(self, items: list[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
        return self.labels.record(items, actor)

    def apply_new_labels(self, labels: list[dict[str, Any]]) -> None:
        self.labels.apply_new(labels)

    # -- lists (delegates to ``lists``; callers move in #16 integration) -----------------------

    def add_list_entry(
        self,
        list_type: str,
        field: str,
        value: str,
        reason: str,
        author: str,
        expires_at: datetime | None = None,
    ) -> int:
        return self.lists.add_entry(list_type, field, value, reason, author, expires_at)

    def add_suppression(
        self, customer_id: str, rule_id: str, until: datetime, reason: str, author: str
    ) -> int:
        return self.lists.add_suppression(customer_id, rule_id, until, reason, author)

    def remove_list_entry(self, entry_id: int) -> None:
        self.lists.remove_entry(entry_id)

    def remove_suppression(self, suppression_id: int) -> None:
        self.lists.remove_suppression(suppression_id)

    def list_rows(self) -> dict[str, list[dict[str, Any]]]:
        return self.lists.rows()
