"""ORM tables, one file per area, one metadata for migrations."""

from lendguard.models.access import AuditEntry, ConsoleSession, User
from lendguard.models.base import Base
from lendguard.models.cases import (
    Case,
    CaseActivity,
    CaseDecision,
    OutreachTask,
    WebhookAttempt,
    WebhookDelivery,
)
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
    "AuditEntry",
    "Case",
    "CaseActivity",
    "CaseDecision",
    "ConsoleSession",
    "OutreachTask",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
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
