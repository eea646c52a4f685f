"""The privacy area's public contract: request bodies and responses of notices and consents, the
two lists, consent-flow checks, data-subject requests, the customer's audit trail and PII
masking.

Field names are public API: add, never rename or remove. A response that differs by who asks
(the access export and a request's result leave the anti-fraud parts out for a marketing or
credit caller) declares the parts that may be absent as optional fields, and the route leaves
an absent part absent (``response_model_exclude_unset``) rather than sending ``null``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lendguard.auth.schemas import AuditEntryView
from lendguard.kit.bounds import Instant
from lendguard.kit.text import TEXT_PATTERN
from lendguard.privacy.pii import EntityType, Operator

# -- shared shapes ---------------------------------------------------------------------------------

# Text that is not blank: at least one character other than white space, and, as everywhere
# (the edge guard), no control character other than tab, line feed and carriage return.
_CONTROL = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f"
NOT_BLANK_PATTERN = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"


# -- vocabularies ----------------------------------------------------------------------------------

ConsentPurpose = Literal[
    "marketing",
    "credit_assessment",
    "loan_service",
    "anti_fraud",
    "sensitive",
    "third_party_sharing",
    "automated_decision",
]
NoticeLocale = Literal["zh-CN", "en"]
RequestKind = Literal["access", "correct", "delete", "withdraw", "explain"]
RequestStatus = Literal["identity_unverified", "pending", "complete", "refused"]
# A purpose that may not read anti-fraud data (Anti-Telecom and Online Fraud Law Art. 18).
RestrictedPurpose = Literal["marketing", "credit"]

# How the requester's identity may be verified before a request is worked (PIPL Art. 50: a
# request is acted on only for the person it is about). A method is one of these, or several
# joined with '+' (``face_match+sms_code``); anything else is refused, so the record says how
# the identity was actually checked, in words an auditor can rely on.
VERIFICATION_METHODS: dict[str, str] = {
    "sms_code": "one-time code sent to the registered mobile number",
    "face_match": "liveness check and face comparison with the ID photo on file",
    "id_document": "identity document checked against the customer record",
    "bank_card": "bound bank card verified (card number, name, ID number, mobile)",
    "app_session": "request made from the customer's signed-in app session",
    "in_person": "at a branch or service point, identity document checked by staff",
    "video_call": "recorded video call, identity document shown and checked",
}
_ONE_METHOD = "(" + "|".join(VERIFICATION_METHODS) + ")"
# The methods joined with '+', each at most once (the lookahead refuses a repeated one).
VERIFICATION_PATTERN = rf"^(?!.*\b(\w+)\b.*\b\1\b){_ONE_METHOD}(\+{_ONE_METHOD})*$"

# -- notices and consent ---------------------------------------------------------------------------


class NoticeBody(BaseModel):
    """A new version of a privacy notice: the purposes it tells and its text per locale."""

    model_config = ConfigDict(extra="forbid")

    notice_key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    purposes: list[ConsentPurpose] = Field(min_length=1, max_length=20)
    texts: dict[NoticeLocale, str] = Field(
        min_length=1, description="the notice's text per locale, as shown to the customer"
    )


class NoticePublished(BaseModel):
    notice_key: str
    version: int = Field(description="1 for the first version of the key")
    sha256: str = Field(description="digest of the purposes and texts (sorted keys)")


class Notice(BaseModel):
    notice_key: str
    version: int
    purposes: list[str]
    texts: dict[str, str] = Field(description="the notice's text per locale")
    sha256: str
    published_at: datetime


class ConsentBody(BaseModel):
    """A grant or a withdrawal for one purpose and scope, given against a published notice."""

    customer_id: str = Field(min_length=1, max_length=128)
    purpose: ConsentPurpose
    scope: str = Field(
        default="*",
        min_length=1,
        max_length=128,
        description="'*' for the whole purpose; a marketing channel; for sensitive and "
        "third_party_sharing the category or recipient, never '*' (separate consent)",
    )
    granted: bool
    method: Literal["checkbox", "toggle", "signature", "voice", "button"] = "toggle"
    channel: Literal["app", "web", "phone", "branch"] = "app"
    notice_key: str = Field(min_length=1, max_length=64)
    notice_version: int = Field(ge=1, le=2**31 - 1)
    at: Instant | None = Field(default=None, description="default: now")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # Sensitive data and sharing are consented to per category or recipient.
            "if": {
                "properties": {"purpose": {"enum": ["sensitive", "third_party_sharing"]}},
                "required": ["purpose"],
            },
            "then": {"properties": {"scope": {"not": {"const": "*"}}}, "required": ["scope"]},
        },
    )


class ConsentRecorded(BaseModel):
    id: int
    at: datetime
    granted: bool


class NoticeRef(BaseModel):
    key: str
    version: int


class CurrentConsent(BaseModel):
    """The latest choice for one (purpose, scope)."""

    purpose: str
    scope: str
    granted: bool
    at: datetime
    method: str
    channel: str
    notice: NoticeRef


class ConsentHistoryEntry(BaseModel):
    """One appended grant or withdrawal."""

    id: int
    customer_id: str
    purpose: str
    scope: str
    granted: bool
    method: str
    channel: str
    notice_key: str
    notice_version: int
    at: datetime
    recorded_by: str


class CustomerConsents(BaseModel):
    customer_id: str
    current: list[CurrentConsent] = Field(description="the latest choice per purpose and scope")
    history: list[ConsentHistoryEntry] = Field(description="every row, oldest first")


# -- R14: checking a consent flow ------------------------------------------------------------------


class ConsentItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purposes: list[str] = Field(
        min_length=1,
        max_length=20,
        description="purposes asked for in one action; 'purpose:scope' names a scope",
    )
    prechecked: bool = False


class ConsentFlow(BaseModel):
    """An app screen or flow that asks for consent, and what happened after it."""

    model_config = ConfigDict(extra="forbid")

    product: Literal["online_lending", "other"] = "online_lending"
    items: list[ConsentItem] = Field(default_factory=list, max_length=50)
    declined_permissions: list[str] = Field(default_factory=list, max_length=50)
    loan_refused_because: list[str] = Field(default_factory=list, max_length=50)


class ConsentFinding(BaseModel):
    code: Literal["CONSENT_PRECHECKED", "BUNDLED_CONSENT", "CONSENT_COERCION"]
    requirement: str
    item: int | None = Field(default=None, description="the item's index, where one is at fault")
    message: str


class NecessaryInformation(BaseModel):
    value: list[str] = Field(description="the necessary personal information for the product")
    source: str = Field(description="the regulation the list comes from")


class ConsentFlowCheck(BaseModel):
    findings: list[ConsentFinding]
    compliant: bool
    necessary_pi: NecessaryInformation


# -- the two lists ---------------------------------------------------------------------------------


class CollectedItem(BaseModel):
    id: str
    type: str
    category: str
    purpose: str
    scenario: str
    collector: str
    retention: str
    sensitive: bool
    necessary: bool
    collection_count: int | None = Field(
        default=None, description="for one customer: how many of their events carried it"
    )


class SharedItem(BaseModel):
    recipient: str
    type: str
    purpose: str
    scenario: str
    method: str
    declaration: str
    needs_separate_consent: bool


class PrivacyLists(BaseModel):
    collected: list[CollectedItem]
    sharing: list[SharedItem]
    locale: NoticeLocale


class CustomerAudit(BaseModel):
    customer_id: str
    entries: list[AuditEntryView] = Field(description="newest first, at most 1,000")


# -- data-subject requests -------------------------------------------------------------------------


class RequestDetails(BaseModel):
    """What the request is about, by kind; other fields are kept as sent (a correction's
    values are forwarded as they are)."""

    # Other fields are any JSON. Their names are documented as free of control characters,
    # which the edge guard refuses; the values stay "any JSON" (a recursive schema saying it of
    # every nested string is one that client generators cannot type).
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"propertyNames": {"pattern": TEXT_PATTERN}}
    )

    purposes: list[ConsentPurpose] | None = Field(
        default=None, description="withdraw: the purposes to withdraw (default: all granted)"
    )
    decision_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="explain: the decision"
    )
    locale: NoticeLocale | None = Field(default=None, description="explain: default zh-CN")


class NewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    kind: RequestKind
    jurisdiction: Literal["CN", "UK", "US"] = "CN"
    details: RequestDetails = Field(default_factory=RequestDetails)
    received_at: Instant | None = Field(default=None, description="default: now")


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str = Field(
        min_length=1,
        max_length=64,
        description=f"one of {', '.join(VERIFICATION_METHODS)}, or several joined with '+'",
        json_schema_extra={"pattern": VERIFICATION_PATTERN},
    )


class RefuseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=4000,
        pattern=NOT_BLANK_PATTERN,
        description="why the request is refused: required, not blank (PIPL Art. 50)",
    )


class ExplainedReason(BaseModel):
    code: str
    text: str


class DecisionExplanation(BaseModel):
    """A decision explained in words the customer reads (PIPL Art. 24), as the decision
    engine gave it when the request was fulfilled."""

    decision_id: str
    locale: NoticeLocale
    action: str
    reasons: list[ExplainedReason]
    text: str
    ruleset_version: int | None
    model_version: str | None


class RequestResult(BaseModel):
    """What fulfilling the request did, by kind. For a caller bound to a marketing or credit
    purpose an explanation is left out and ``withheld_for_purpose`` says so."""

    # access
    tables_with_rows: list[str] | None = None
    rows: int | None = None
    export: str | None = Field(default=None, description="access: where the copy is read")
    # withdraw
    withdrawn: list[str] | None = Field(default=None, description="'purpose:scope' withdrawn")
    # explain
    explanation: DecisionExplanation | None = None
    withheld_for_purpose: RestrictedPurpose | None = None
    # correct
    forwarded: dict[str, Any] | None = None
    note: str | None = None
    # delete
    deleted: list[str] | None = None
    retained: dict[str, str] | None = Field(
        default=None, description="what was kept, and the duty to keep it"
    )


class DataSubjectRequestView(BaseModel):
    id: str
    customer_id: str
    kind: RequestKind
    status: RequestStatus
    jurisdiction: str
    received_at: datetime
    due_at: datetime
    details: RequestDetails
    verified_at: datetime | None
    verification_method: str | None
    decided_at: datetime | None
    decided_by: str | None
    refusal_reason: str | None
    result: RequestResult | None
    overdue: bool


class RequestQueue(BaseModel):
    requests: list[DataSubjectRequestView] = Field(description="soonest due first, at most 500")


class ExportedTable(BaseModel):
    """One table of the schema: its rows about the customer, or why it has none here."""

    rows: list[dict[str, Any]] | None = Field(
        default=None, description="the rows about the customer, column by column"
    )
    about_customers: bool | None = None
    withheld: bool | None = Field(default=None, description="left out for the caller's purpose")
    reason: str | None = None


class AccessExport(BaseModel):
    customer_id: str
    generated_at: datetime
    tables: dict[str, ExportedTable] = Field(description="every table of the schema, by name")
    withheld_for_purpose: RestrictedPurpose | None = None
    withheld_tables: list[str] | None = None


# -- masking ---------------------------------------------------------------------------------------

MAX_TEXTS = 1_000


class MaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(max_length=MAX_TEXTS, description=f"at most {MAX_TEXTS:,} texts")
    operator: Operator = Field(
        default="mask",
        description="mask (138****5678), hash (HMAC token that joins across tables) or "
        "encrypt (AES-GCM token)",
    )
    types: list[EntityType] | None = Field(
        default=None, description="entity types to replace (default: all)"
    )


class MaskedEntity(BaseModel):
    type: EntityType
    start: int = Field(description="code-point offset into the text sent")
    end: int
    score: float
    replacement: str


class MaskedText(BaseModel):
    text: str
    entities: list[MaskedEntity]


class MaskResult(BaseModel):
    results: list[MaskedText] = Field(description="one per text, in order")
