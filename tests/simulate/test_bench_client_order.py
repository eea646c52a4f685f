"""The benchmark's HTTP client sends one customer's requests one at a time, in order."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.simulate.benchmark import _Shared


def _drain(customers: list[str], in_flight: int, seed: int) -> list[int]:
    """Play ``in_flight`` senders answered in a random order; returns the send order."""
    shared = _Shared([b""] * len(customers), float("inf"), lambda _done: None, customers)
    rng = random.Random(seed)
    flying: list[int] = []
    sent: list[int] = []
    while True:
        while len(flying) < in_flight:
            i = shared.take()
            if i < 0:
                break
            assert customers[i] not in {customers[j] for j in flying}, "customer sent twice"
            flying.append(i)
            sent.append(i)
        if not flying:
            assert shared.take() == -1
            return sent
        done = flying.pop(rng.randrange(len(flying)))
        shared.record(200, 1, b"", done)


@settings(max_examples=200, deadline=None)
@given(
    customers=st.lists(st.sampled_from("abcde"), min_size=1, max_size=60),
    in_flight=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_every_request_is_sent_once_and_each_customer_in_order(
    customers: list[str], in_flight: int, seed: int
) -> None:
    sent = _drain(customers, in_flight, seed)
    assert sorted(sent) == list(range(len(customers)))
    for customer in set(customers):
        mine = [i for i in sent if customers[i] == customer]
        assert mine == sorted(mine)


def test_a_busy_customer_lets_the_next_free_one_go_first() -> None:
    shared = _Shared([b""] * 3, float("inf"), lambda _done: None, ["a", "a", "b"])
    assert shared.take() == 0
    assert shared.take() == 2  # "a" is in flight: its second request waits
    assert shared.take() == -2  # only "a"'s second is left, and "a" is busy
    shared.record(200, 1, b"", 0)
    assert shared.take() == 1
    assert shared.take() == -1
    assert not shared.stopped_early


def test_without_customers_requests_go_in_order() -> None:
    shared = _Shared([b""] * 2, float("inf"), lambda _done: None)
    assert [shared.take(), shared.take(), shared.take()] == [0, 1, -1]
