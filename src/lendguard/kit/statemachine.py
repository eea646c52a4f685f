"""A state machine as data: a transition table and the one dispatcher that reads it.

Cases and complaints move through states that a person chooses from. Their allowed moves are a
table, ``(from, to) -> verb``, and nothing else decides whether a move is legal, so the console
can offer exactly the buttons that are legal, a refusal names the current state and the allowed
targets, and a pair the table does not list is refused before anything is written.

The verb is what the timeline records and what the owning service branches on: the guards of a
move (a crisis-only close needs a note, a complaint needs a decision before it closes) and its
side effects (labels and release/cancel instructions, the clock stopping) are the service's
code for that verb, run inside the same transaction as the state change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, TypeVar

from lendguard.errors import FieldError, LendGuardError

StateT = TypeVar("StateT", bound=StrEnum)


class StateMachine(Generic[StateT]):
    """The transition table of one kind of record (``noun``: "case", "complaint") and its
    dispatcher. ``refusal`` is the error a refused move raises (a 409 of the owning area);
    a refusal from one of ``closed`` adds ``closed_hint`` (how to get out of a closed state)."""

    def __init__(
        self,
        noun: str,
        states: type[StateT],
        transitions: Mapping[tuple[StateT, StateT], str],
        refusal: type[LendGuardError],
        *,
        closed: Iterable[StateT] = (),
        closed_hint: str = "",
    ) -> None:
        self.noun = noun
        self.states = states
        self.transitions: Mapping[tuple[StateT, StateT], str] = MappingProxyType(dict(transitions))
        self.refusal = refusal
        self.closed = frozenset(closed)
        self.closed_hint = closed_hint
        # Targets per state in table order (what the console shows, what a refusal lists).
        self._allowed: dict[StateT, list[StateT]] = {state: [] for state in states}
        for frm, to in self.transitions:
            self._allowed[frm].append(to)

    def allowed_from(self, state: StateT) -> list[StateT]:
        """The states ``state`` may move to, in table order."""
        return list(self._allowed[state])

    def dispatch(self, current: str, target: str) -> str:
        """The verb of ``current → target``, or ``refusal`` naming the allowed targets (the
        caller has written nothing yet, so nothing changes)."""
        try:
            frm, to = self.states(current), self.states(target)
        except ValueError:
            raise self.refusal(
                f"unknown {self.noun} state '{target}'",
                errors=[FieldError("to", f"one of {[s.value for s in self.states]}")],
            ) from None
        verb = self.transitions.get((frm, to))
        if verb is None:
            allowed = [s.value for s in self._allowed[frm]]
            hint = self.closed_hint if frm in self.closed else ""
            raise self.refusal(
                f"a {self.noun} in '{frm.value}' cannot move to '{to.value}'{hint}; "
                f"allowed: {allowed}",
                errors=[FieldError("to", f"allowed from {frm.value}: {allowed}")],
            )
        return verb
