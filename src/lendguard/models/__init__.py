"""ORM tables, one file per area, one metadata for migrations."""

from lendguard.models.base import Base
from lendguard.models.decision import (
    ApiKey,
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
    StateCheckpoint,
    StateSnapshot,
    Suppression,
)

__all__ = [
    "ApiKey",
    "ChallengerRun",
    "ChallengerScore",
    "Base",
    "DecisionRecord",
    "EventRecord",
    "LabelRecord",
    "ListEntry",
    "ModelActivation",
    "ModelVersion",
    "RuleSetActivation",
    "RuleSetVersion",
    "ShadowDecision",
    "ShadowRun",
    "StateCheckpoint",
    "StateSnapshot",
    "Suppression",
]
