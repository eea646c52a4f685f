"""The case state machine: one dispatcher, and it refuses any pair it does not list.

    new → triage → contacting_customer → resolved_fraud | resolved_legit |
                                         resolved_scam_victim | escalated_police
    (a resolved or escalated case goes back to triage only through ``reopen``)

Following dispatch's incident flow: the allowed transitions are data, so the console can offer
exactly the buttons that are legal, and a refusal names the state and the allowed targets.
"""

from __future__ import annotations

from enum import StrEnum

from lendguard.errors import FieldError, LendGuardError


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


def allowed_from(state: CaseState) -> list[CaseState]:
    return [to for (frm, to) in TRANSITIONS if frm == state]


def dispatch(current: str, target: str) -> str:
    """The verb of ``current → target``, or :class:`InvalidTransition` (nothing changes)."""
    try:
        frm, to = CaseState(current), CaseState(target)
    except ValueError:
        raise InvalidTransition(
            f"unknown case state '{target}'",
            errors=[FieldError("to", f"one of {[s.value for s in CaseState]}")],
        ) from None
    verb = TRANSITIONS.get((frm, to))
    if verb is None:
        allowed = [s.value for s in allowed_from(frm)]
        hint = " (reopen it first)" if frm in CLOSED else ""
        raise InvalidTransition(
            f"a case in '{frm.value}' cannot move to '{to.value}'{hint}; allowed: {allowed}",
            errors=[FieldError("to", f"allowed from {frm.value}: {allowed}")],
        )
    return verb
