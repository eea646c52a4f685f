"""Fraud marks in the entity-link graph (issue #22): a label 0 after a 1 clears the mark, and
a customer stays marked while another of its events still holds a fraud label."""

from __future__ import annotations

from fixtures import T0, make_event
from lendguard.events.schemas import Event
from lendguard.graph.index import LinkIndex

LINKS = {"device": "dev-shared", "phone": None, "card": None, "address": None, "voice": None}


def _ring() -> LinkIndex:
    """Two customers joined by one device."""
    graph = LinkIndex()
    for customer in ("cust-a", "cust-b"):
        graph.add_event(
            Event.model_validate(make_event(customer_id=customer, device_id="dev-shared"))
        )
    return graph


def _share(graph: LinkIndex) -> float:
    return graph.ring_view("cust-b", LINKS, T0.timestamp())[1]


def test_a_label_zero_after_a_one_clears_the_mark() -> None:
    graph = _ring()
    assert _share(graph) == 0.0
    graph.mark_fraud("cust-a", "e1")
    assert _share(graph) == 0.5
    graph.clear_fraud("cust-a", "e1")
    assert "cust-a" not in graph.fraud_customers
    assert _share(graph) == 0.0
    # clearing again, or a customer never marked, changes nothing
    graph.clear_fraud("cust-a", "e1")
    graph.clear_fraud("cust-z", "e9")
    assert _share(graph) == 0.0


def test_another_fraud_event_keeps_the_mark() -> None:
    graph = _ring()
    graph.mark_fraud("cust-a", "e1")
    graph.mark_fraud("cust-a", "e2")
    graph.clear_fraud("cust-a", "e1")
    assert _share(graph) == 0.5
    graph.clear_fraud("cust-a", "e2")
    assert _share(graph) == 0.0


def test_marks_without_event_ids_and_clearing_all() -> None:
    graph = _ring()
    graph.mark_fraud("cust-a")  # the callers that know no event id
    graph.mark_fraud("cust-a", "e1")
    graph.clear_fraud("cust-a", "e1")
    assert _share(graph) == 0.5
    graph.clear_fraud("cust-a")
    assert _share(graph) == 0.0


def test_a_mark_before_the_customer_joins_a_group_counts_once_and_clears() -> None:
    graph = LinkIndex()
    graph.mark_fraud("cust-a", "e1")
    for customer in ("cust-a", "cust-b"):
        graph.add_event(
            Event.model_validate(make_event(customer_id=customer, device_id="dev-shared"))
        )
    assert _share(graph) == 0.5
    copy = graph.snapshot()
    graph.clear_fraud("cust-a", "e1")
    assert _share(graph) == 0.0
    assert _share(copy) == 0.5  # a snapshot keeps its own marks
    copy.clear_fraud("cust-a", "e1")
    assert _share(copy) == 0.0
