"""HTTP endpoint of the agent assistant.

``POST /v1/assistant/analyze`` (scope ``cases:write``: the agents who work customers' cases)
with ``{"customer_id", "text", "locale"?, "conversation_id"?, "occurred_at"?}`` returns the
intent (or an abstention and a hand-off to a human), suggested answers from the knowledge base,
and early warnings with their reasons. Two effects:

- a scam-victim warning is decided as a ``contact`` event by the decision engine, carrying only
  the cue names and the scam type (never the text: no PII in the event log). Its id is derived
  from the customer, the conversation and a hash of the text, so a retry records nothing new.
  The default rule ``scam-cue-new-payee`` then slows the customer's next transfer to a new
  payee down and routes it to a human (reason ``SCAM_CUE_IN_CONVERSATION``);
- a vulnerability cue starts the over-indebtedness (rescue) workflow: marketing is suppressed
  (the ``marketing_suppressed`` flag the contact guard reads, reason "vulnerability cue: …")
  and the step is recorded for the rescue report;
- a crisis cue (the customer speaks of ending their life) is an urgent hand-off: the warning
  comes first with the agent's script and the hotlines of ``jurisdiction`` (else the locale's),
  a crisis case opens (a case type of its own, worked before any other; a second cue while it
  is open is added to its timeline), and the rescue ladder suppresses marketing and pauses
  collection for the customer (both recorded as rescue steps). The case and the flags name the
  cues, never the words.

The text is neither logged nor stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from lendguard.auth.dependencies import require
from lendguard.auth.service import Principal, Scope
from lendguard.cases.service import CaseService
from lendguard.conduct.rescue_flags import Flag
from lendguard.config import Settings
from lendguard.decisions.service import DecisionService
from lendguard.errors import IdempotencyMismatch
from lendguard.events.schemas import Event, EventType
from lendguard.lending.rescue_ladder import RescueService
from lendguard.support import crisis
from lendguard.support.assistant import Analysis, Assistant, get_assistant
from lendguard.support.assistant_schemas import AnalyzeRequest, AnalyzeResponse
from lendguard.web.body import json_body

router = APIRouter(prefix="/v1/assistant")

AssistantUser = Annotated[Principal, Depends(require(Scope.cases_write))]


# -- what the endpoint needs, provided -------------------------------------------------------------


class ContactDecisions:
    """What the assistant needs from the decision engine: decide a contact event (on the loop,
    with group commit, as ``POST /v1/events`` does), and read back the decision an event id
    already has (the same message sent again later)."""

    def __init__(self, decisions: DecisionService) -> None:
        self._decisions = decisions

    async def decide(self, event: Event) -> dict[str, Any]:
        return await self._decisions.decide_async(event)

    def recorded(self, event_id: str) -> dict[str, Any] | None:
        return self._decisions.decision_for_event(event_id)


def contact_decisions(request: Request) -> ContactDecisions:
    return ContactDecisions(request.app.state.services.decisions)


def assistant_loader(request: Request) -> Callable[[], Assistant]:
    """The configured assistant, loaded on first use: CPU work, so the route calls it on a
    worker thread."""
    settings: Settings = request.app.state.services.settings
    folder = settings.assistant_model_dir
    return lambda: get_assistant(folder)


def case_service(request: Request) -> CaseService:
    return request.app.state.services.cases


def rescue_service(request: Request) -> RescueService:
    return request.app.state.services.rescue


Contacts = Annotated[ContactDecisions, Depends(contact_decisions)]
AssistantModel = Annotated[Callable[[], Assistant], Depends(assistant_loader)]
Cases = Annotated[CaseService, Depends(case_service)]
Rescue = Annotated[RescueService, Depends(rescue_service)]


# -- the effects -----------------------------------------------------------------------------------


def contact_event_id(customer_id: str, conversation_id: str | None, text: str) -> str:
    digest = hashlib.sha256(
        "\x1f".join((customer_id, conversation_id or "", text)).encode("utf-8")
    ).hexdigest()
    return f"asst-{digest[:40]}"


def contact_event(body: AnalyzeRequest, analysis: Analysis) -> Event:
    cues = ["scam_victim"]
    if analysis.vulnerability:
        cues.append("vulnerability")
    if analysis.complaint:
        cues.append("complaint")
    attributes: dict[str, Any] = {
        "source": "assistant",
        "conversation_cues": cues,
        "scam_type": analysis.scam.type,
        "scam_score": analysis.scam.score,
        "scam_cues": [h.cue.name for h in analysis.scam.hits],
    }
    if body.conversation_id:
        attributes["conversation_id"] = body.conversation_id
    return Event(
        event_id=contact_event_id(body.customer_id, body.conversation_id, body.text),
        type=EventType.contact,
        occurred_at=body.occurred_at or datetime.now(UTC),
        customer_id=body.customer_id,
        channel="assistant",
        attributes=attributes,
    )


async def _record_scam_cue(
    contacts: ContactDecisions, body: AnalyzeRequest, analysis: Analysis
) -> dict[str, Any]:
    event = contact_event(body, analysis)
    replayed = False
    try:
        decision = await contacts.decide(event)
    except IdempotencyMismatch:
        # The same message in the same conversation, sent again later (another occurred_at):
        # the first record stands.
        found = await run_in_threadpool(contacts.recorded, event.event_id)
        if found is None:  # pragma: no cover - the mismatch says it exists
            raise
        decision, replayed = found, True
    return {
        "event_id": event.event_id,
        "decision_id": decision["decision_id"],
        "action": decision["action"],
        "occurred_at": decision["occurred_at"],
        "replayed": replayed,
    }


def _start_rescue(
    rescue: RescueService, body: AnalyzeRequest, analysis: Analysis, principal: Principal
) -> dict[str, Any]:
    names = analysis.vulnerability_names()
    now = datetime.now(UTC)
    source = "assistant:" + contact_event_id(body.customer_id, body.conversation_id, body.text)
    with rescue.db.begin() as conn:
        flag_id = rescue.suppress_marketing(
            conn,
            body.customer_id,
            "vulnerability cue: " + ", ".join(names),
            source,
            {"reasons": ["VULNERABILITY_CUE"], "cues": names},
            now,
            actor=principal.actor,
        )
    if flag_id is None:
        return {"flag": Flag.marketing_suppressed.value, "set": False, "already": True}
    return {
        "flag": Flag.marketing_suppressed.value,
        "set": True,
        "already": False,
        "flag_id": flag_id,
    }


def _start_crisis(
    cases: CaseService,
    rescue: RescueService,
    body: AnalyzeRequest,
    analysis: Analysis,
    principal: Principal,
) -> dict[str, Any]:
    """The crisis hand-off's effects: the crisis case, then marketing suppressed and collection
    paused (the rescue ladder's flags, each once). A retry of the same message adds a line to
    the open case's timeline and changes no flag."""
    names = analysis.crisis_names()
    now = datetime.now(UTC)
    event_id = contact_event_id(body.customer_id, body.conversation_id, body.text)
    jurisdictions = crisis.jurisdictions_for(analysis.locale, body.jurisdiction)
    detail = {
        "source": "assistant",
        "assistant_event_id": event_id,
        "conversation_id": body.conversation_id,
        "cues": names,
        "jurisdictions": list(jurisdictions),
    }
    case_id, opened = cases.open_crisis(body.customer_id, detail, actor=principal.actor)
    source = "crisis:" + event_id
    reason = "crisis cue: " + ", ".join(names)
    step = {"reasons": ["CRISIS_CUE"], "cues": names, "case_id": case_id}
    with rescue.db.begin() as conn:
        marketing = rescue.suppress_marketing(
            conn, body.customer_id, reason, source, step, now, actor=principal.actor
        )
        collection = rescue.pause_collection(
            conn, body.customer_id, reason, source, step, now, actor=principal.actor
        )
    return {
        "case_id": case_id,
        "case_opened": opened,
        "marketing_suppressed": {"set": marketing is not None, "already": marketing is None},
        "collection_paused": {"set": collection is not None, "already": collection is None},
    }


@router.post(
    "/analyze",
    tags=["assistant"],
    summary="Analyse one customer message for an agent: intent, answers, early warnings",
    response_model=AnalyzeResponse,
    response_model_exclude_unset=True,
)
async def analyze(
    principal: AssistantUser,
    body: Annotated[AnalyzeRequest, json_body(AnalyzeRequest, "invalid assistant request")],
    model: AssistantModel,
    contacts: Contacts,
    cases: Cases,
    rescue: Rescue,
) -> object:
    def analyse() -> Analysis:
        # The models (loaded on first use) and the analysis are CPU work: off the event loop.
        return model().analyze(body.text, body.locale, body.jurisdiction)

    analysis = await run_in_threadpool(analyse)
    result: dict[str, Any] = {
        "customer_id": body.customer_id,
        "conversation_id": body.conversation_id,
        **analysis.as_dict(),
    }
    effects: dict[str, Any] = {"crisis": None, "decision": None, "rescue": None}
    if analysis.crisis:
        # First: the customer's safety before anything about their money.
        effects["crisis"] = await run_in_threadpool(
            _start_crisis, cases, rescue, body, analysis, principal
        )
    if analysis.scam.cue:
        # Decided on the loop as POST /v1/events is (group commit).
        effects["decision"] = await _record_scam_cue(contacts, body, analysis)
    if analysis.vulnerability:
        effects["rescue"] = await run_in_threadpool(
            _start_rescue, rescue, body, analysis, principal
        )
    result["effects"] = effects
    return result
