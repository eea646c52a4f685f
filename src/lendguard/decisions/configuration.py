"""The one active configuration a decision reads, swapped whole.

Every decision reads the rule set, the scoring model, the allow/deny lists and suppressions,
and the twins running beside them (:mod:`lendguard.decisions.twins`). They change at different
times by different components (rule-set lifecycle, model registry, lists), yet a decision must
see them as one consistent picture: never the new rule set with the old rule set's version, or
a challenger that was just made champion still challenging itself.

So they live together in one immutable :class:`ActiveConfiguration`. A change builds a new
snapshot and publishes it with one reference assignment, under the service lock
(:meth:`LiveConfiguration.swap`); a decision reads the reference once and uses that snapshot
throughout. Reading costs one attribute lookup and no copy.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lendguard.decisions.policy import ListsView
from lendguard.decisions.rules.loader import RuleSet
from lendguard.decisions.scoring.model import ScoringModel
from lendguard.decisions.twins import ChallengerModel, ShadowRuleSet


class LiveModel(NamedTuple):
    """The scoring model deciding live traffic (the champion)."""

    version: int
    model: ScoringModel


@dataclass(frozen=True, slots=True)
class ActiveConfiguration:
    """What decides an event, as one snapshot. Never mutated: replaced (see module doc)."""

    ruleset: RuleSet | None = None
    ruleset_version: int = 0
    model: LiveModel | None = None
    # (The lists view is built whole by ``ListsAndSuppressions.reload`` and never changed.)
    lists: ListsView = field(default_factory=ListsView)
    shadow: ShadowRuleSet | None = None
    challenger: ChallengerModel | None = None


class LiveConfiguration:
    """The reference to the active snapshot every component of the service shares."""

    __slots__ = ("active", "lock")

    def __init__(self, lock: threading.RLock) -> None:
        # The service lock: decisions hold it while they read ``active``; swaps take it too.
        self.lock = lock
        self.active = ActiveConfiguration()

    def swap(self, **changes: Any) -> ActiveConfiguration:
        """Publish a snapshot with ``changes`` applied (one reference assignment)."""
        with self.lock:
            self.active = dataclasses.replace(self.active, **changes)
            return self.active
