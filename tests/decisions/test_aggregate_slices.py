"""Window aggregates read with list slices (a window of more than ``SLICE_FROM`` entries) give
exactly the figures of the backward loop: the same count, the same floating-point sum (summed
newest first), the same largest amount (never below 0.0) and the same distinct counterparts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.decisions.features import compute
from lendguard.decisions.features.state import EntityState, StateBundle
from lendguard.events.schemas import Event
from lendguard.kit.timeutil import WINDOWS

T0 = 1_790_000_000.0
KINDS = ["transfer", "payment", "deposit", "login"]
GROUPS = [None, compute.OUTFLOW, compute.DEPOSIT, frozenset({"login", "deposit"})]


def _context(entries: list[tuple[float, str, float, str]], now: float) -> compute.FeatureContext:
    state = EntityState()
    for ts, kind, amount, other in sorted(entries, key=lambda e: e[0]):
        state.add(ts, kind, amount, other, f"e{len(state)}", max_entries=10_000)
    event = Event.model_validate(
        {
            "event_id": "x",
            "customer_id": "c1",
            "type": "login",
            "occurred_at": "2026-10-01T00:00:00+00:00",
        }
    )
    bundle = StateBundle({"customer": "c:c1"}, {"c:c1": state})
    return compute.FeatureContext(event, bundle, None, now)


entries = st.lists(
    st.tuples(
        st.floats(T0 - 40 * 86_400, T0 + 3_600, allow_nan=False),
        st.sampled_from(KINDS),
        st.sampled_from([-5.0, 0.0, 0.1, 0.2, 0.3, 1e-9, 7.5, 1_000.0, 1e16]),
        st.sampled_from(["", "a", "b", "c"]),
    ),
    max_size=80,
)


def _aggregate(
    found: list[tuple[float, str, float, str]],
    group: frozenset[str] | None,
    window: str,
    slice_from: int,
) -> tuple[int, float, float, int]:
    kept = compute.SLICE_FROM
    compute.SLICE_FROM = slice_from
    try:
        return compute.aggregate(_context(found, T0), "customer", group, window)
    finally:
        compute.SLICE_FROM = kept


@settings(max_examples=300, deadline=None)
@given(entries, st.sampled_from(range(len(GROUPS))), st.sampled_from(sorted(WINDOWS)))
def test_slices_and_loop_agree(
    found: list[tuple[float, str, float, str]], group_at: int, window: str
) -> None:
    group = GROUPS[group_at]
    looped = _aggregate(found, group, window, 10**9)
    sliced = _aggregate(found, group, window, 0)
    assert sliced == looped
    assert [type(v) for v in sliced] == [type(v) for v in looped]


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_a_busy_key_takes_the_slices(window: str) -> None:
    """More than SLICE_FROM entries in the window: the sliced figures, memoised."""
    many = [(T0 - i, "transfer", 0.1, f"p{i % 5}") for i in range(compute.SLICE_FROM + 5)]
    ctx = _context(many, T0)
    figures = compute.aggregate(ctx, "customer", None, window)
    assert figures[0] == compute.SLICE_FROM + 5
    assert figures[3] == 5
    assert ctx.memo[("customer", None, window)] == figures
