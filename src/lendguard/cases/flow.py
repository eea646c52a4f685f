"""The case state machine: one dispatcher, and it refuses any pair it does not list.

    new → triage → contacting_customer → resolved_fraud | resolved_legit |
                                         resolved_scam_victim | escalated_police
    (a resolved or escalated case goes back to triage only through ``reopen``)

Following dispatch's incident flow: the allowed transitions are data (:data:`TRANSITIONS`, read
by the shared :class:`~lendguard.kit.statemachine.StateMachine`, as complaints are), so the
console can offer exactly the buttons that are legal, and a refusal names the state and the
allowed targets.
"""

from __future__ import annotations

from enum import StrEnum

from lendguard.errors import LendGuardError
from lendguard.kit.statemachine import StateMachine


class CaseState(StrEnum):
    new = "new"
    triage = "triage"
    contacting_customer = "contacting_customer"
    resolved_fraud = "resolved_fraud"
    resolved_legit = "resolved_legit"
    resolved_scam_victim = "resolved_scam_victim"
    escalated_police = "escalated_police"
    # A crisis case's own close (the customer spoke of ending their life): support was given
    # or they were referred to help. It says nothing about fraud, so it writes no label and
    # sends no release/cancel instruction; only a crisis case may take it.
    resolved_supported = "resolved_supported"


CLOSED = frozenset(
    {
        CaseState.resolved_fraud,
        CaseState.resolved_legit,
        CaseState.resolved_scam_victim,
        CaseState.escalated_police,
        CaseState.resolved_supported,
    }
)
# Closes that only a crisis case may take (and that need a note saying what was done).
CRISIS_ONLY = frozenset({CaseState.resolved_supported})
OPEN = frozenset(CaseState) - CLOSED
_RESOLUTIONS = frozenset(CLOSED)

# (from, to) -> the verb recorded on the timeline
TRANSITIONS: dict[tuple[CaseState, CaseState], str] = {
    (CaseState.new, CaseState.triage): "triage",
    (CaseState.new, CaseState.contacting_customer): "contact",
    (CaseState.triage, CaseState.contacting_customer): "contact",
    **{(CaseState.triage, to): "resolve" for to in _RESOLUTIONS},
    **{(CaseState.contacting_customer, to): "resolve" for to in _RESOLUTIONS},
    **{(closed, CaseState.triage): "reopen" for closed in CLOSED},
}

# What each resolution means for the held transactions and for training labels.
HOLD_INSTRUCTION: dict[CaseState, str] = {
    CaseState.resolved_legit: "release",
    CaseState.resolved_fraud: "cancel",
    CaseState.resolved_scam_victim: "cancel",
    CaseState.escalated_police: "cancel",
}
LABEL_OF: dict[CaseState, tuple[str, int]] = {
    CaseState.resolved_legit: ("legit", 0),
    CaseState.resolved_fraud: ("fraud", 1),
    CaseState.resolved_scam_victim: ("scam_victim", 1),
    CaseState.escalated_police: ("fraud", 1),
}


class InvalidTransition(LendGuardError):
    status_code = 409
    title = "Invalid case transition"


MACHINE = StateMachine(
    "case",
    CaseState,
    TRANSITIONS,
    InvalidTransition,
    closed=CLOSED,
    closed_hint=" (reopen it first)",
)
# The states a case may move to from a state, in table order (what the console offers).
allowed_from = MACHINE.allowed_from
# The verb of ``current → target``, or InvalidTransition (nothing changes).
dispatch = MACHINE.dispatch
