"""The one dispatcher cases and complaints share: a pair the table does not list is refused with
the current state and the allowed targets, and the refusal is the owning area's 409."""

from __future__ import annotations

from enum import StrEnum

import pytest

from lendguard.cases import flow
from lendguard.errors import Conflict
from lendguard.kit.statemachine import StateMachine
from lendguard.support import complaints


class Door(StrEnum):
    shut = "shut"
    open = "open"
    locked = "locked"


class DoorRefused(Conflict):
    title = "Invalid door transition"


DOOR = StateMachine(
    "door",
    Door,
    {
        (Door.shut, Door.open): "open",
        (Door.open, Door.shut): "close",
        (Door.shut, Door.locked): "lock",
        (Door.locked, Door.shut): "unlock",
    },
    DoorRefused,
    closed={Door.locked},
    closed_hint=" (unlock it first)",
)


def test_a_listed_pair_gives_its_verb_and_the_targets_keep_table_order() -> None:
    assert DOOR.dispatch("shut", "locked") == "lock"
    assert DOOR.allowed_from(Door.shut) == [Door.open, Door.locked]
    assert DOOR.allowed_from(Door.open) == [Door.shut]
    DOOR.allowed_from(Door.shut).clear()  # a copy: the table cannot be changed through it
    assert DOOR.allowed_from(Door.shut) == [Door.open, Door.locked]
    with pytest.raises(TypeError):
        DOOR.transitions[(Door.open, Door.locked)] = "slam"  # type: ignore[index]


def test_an_unlisted_pair_is_refused_naming_the_state_and_the_allowed_targets() -> None:
    with pytest.raises(DoorRefused) as refused:
        DOOR.dispatch("open", "locked")
    assert refused.value.status_code == 409
    assert refused.value.detail == "a door in 'open' cannot move to 'locked'; allowed: ['shut']"
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("to", "allowed from open: ['shut']")
    ]


def test_a_refusal_from_a_closed_state_says_how_to_get_out() -> None:
    with pytest.raises(DoorRefused, match=r"cannot move to 'open' \(unlock it first\); allowed"):
        DOOR.dispatch("locked", "open")


def test_an_unknown_state_is_refused_listing_the_states() -> None:
    with pytest.raises(DoorRefused) as refused:
        DOOR.dispatch("shut", "ajar")
    assert refused.value.detail == "unknown door state 'ajar'"
    assert refused.value.errors[0].message == "one of ['shut', 'open', 'locked']"


def test_cases_and_complaints_refuse_through_it_with_their_own_words() -> None:
    with pytest.raises(flow.InvalidTransition) as case_refused:
        flow.dispatch("resolved_fraud", "contacting_customer")
    assert case_refused.value.status_code == 409
    assert case_refused.value.title == "Invalid case transition"
    assert case_refused.value.detail == (
        "a case in 'resolved_fraud' cannot move to 'contacting_customer' (reopen it first); "
        "allowed: ['triage']"
    )
    with pytest.raises(complaints.InvalidTransition) as complaint_refused:
        complaints.dispatch("closed", "received")
    assert complaint_refused.value.title == "Invalid complaint transition"
    assert complaint_refused.value.detail == (
        "a complaint in 'closed' cannot move to 'received'; allowed: []"
    )
    assert flow.dispatch("new", "triage") == "triage"
    assert complaints.dispatch("responded", "closed") == "close"
