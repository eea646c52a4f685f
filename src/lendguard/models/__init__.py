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
from lendguard.models.conduct import (
    ConductFlag,
    ContactAttempt,
    ContactDebtor,
    MarketingPreference,
    ThirdPartyOptOut,
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
from lendguard.models.lending import HardshipPlan, RescueStep
from lendguard.models.privacy import ConsentRecord, DataSubjectRequest, PrivacyNotice

__all__ = [
    "ConsentRecord",
    "DataSubjectRequest",
    "PrivacyNotice",
    "HardshipPlan",
    "RescueStep",
    "AuditEntry",
    "Case",
    "CaseActivity",
    "CaseDecision",
    "ConductFlag",
    "ConsoleSession",
    "ContactAttempt",
    "ContactDebtor",
    "MarketingPreference",
    "ThirdPartyOptOut",
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
