"""The customer state's latest-time index (``stats['last_at']``) answers recency questions
exactly as a scan of the held entries would, late and out-of-order events and entry bounds
included; where it cannot tell, it says so (SCAN) instead of answering wrong."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.decisions.features.state import SCAN, EntityState

KINDS = ["transfer", "login", "profile_change", "contact"]
OTHERS = ["", "phone", "password", "scam_victim"]

adds = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=40 * 86_400, allow_nan=False),
        st.sampled_from(KINDS),
        st.sampled_from(OTHERS),
    ),
    min_size=1,
    max_size=60,
)


def scanned(state: EntityState, kind: str, other: str | None, now: float) -> int | None:
    """The most recent held entry of ``kind`` (and ``other``) at or before ``now``."""
    for i in range(len(state.ts) - 1, -1, -1):
        if (
            state.ts[i] <= now
            and state.kind[i] == kind
            and (other is None or state.other[i] == other)
        ):
            return i
    return None


@settings(max_examples=300, deadline=None)
@given(
    events=adds,
    max_entries=st.sampled_from([3, 8, 1_000]),
    indexed_after=st.integers(min_value=0, max_value=60),
    queries=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=41 * 86_400, allow_nan=False),
            st.sampled_from(KINDS),
            st.sampled_from([None, *OTHERS]),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_the_index_agrees_with_a_scan(
    events: list[tuple[float, str, str]],
    max_entries: int,
    indexed_after: int,
    queries: list[tuple[float, str, str | None]],
) -> None:
    state = EntityState()
    for n, (ts, kind, other) in enumerate(events):
        if n == indexed_after:
            state.index_latest()  # a state saved before the index gets one later
        state.add(ts, kind, 0.0, other, f"e{n}", max_entries=max_entries)
    state.index_latest()
    again = EntityState.from_bytes(state.to_bytes())  # the index survives a save and a load
    for now, kind, other in queries:
        if other is not None and kind not in ("profile_change", "contact"):
            continue  # only these kinds are indexed per counterpart
        for held in (state, again):
            found = held.latest_index(kind, other, now)
            if found != SCAN:
                assert found == scanned(held, kind, other, now)
