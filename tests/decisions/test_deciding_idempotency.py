"""Idempotency on the single-owner path (memory state): new events are decided without reading
the log (an index of the ids written, rebuilt from the log at start), and a resend or a reused
id is still recognised, before and after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from fixtures import count_rows, make_event
from lendguard.decisions.service import DecisionService
from lendguard.decisions.state import WrittenEventIds
from lendguard.errors import Conflict, IdempotencyMismatch
from lendguard.events.parse import parse_event

ServiceFactory = Callable[..., DecisionService]


def count_log_reads(service: DecisionService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The event ids the service looks up in the log (the per-event idempotency read)."""
    seen: list[str] = []
    hot = service._hot
    original = hot.event_hash

    def event_hash(conn: Any, event_id: str) -> str | None:
        seen.append(event_id)
        result: str | None = original(conn, event_id)
        return result

    monkeypatch.setattr(hot, "event_hash", event_hash)
    return seen


class TestWrittenEventIds:
    def test_every_id_added_is_found_across_growth(self) -> None:
        written = WrittenEventIds()
        ids = [f"evt-{i}" for i in range(3 * WrittenEventIds.MIN_CAPACITY)]
        for event_id in ids:
            written.add(event_id)
        assert all(event_id in written for event_id in ids)
        assert len(written._layers) > 1  # it grew instead of filling up

    def test_ids_never_added_are_mostly_certainly_new(self) -> None:
        written = WrittenEventIds()
        for i in range(2 * WrittenEventIds.MIN_CAPACITY):
            written.add(f"evt-{i}")
        others = [f"other-{i}" for i in range(20_000)]
        maybe = sum(1 for event_id in others if event_id in written)
        assert maybe / len(others) < 0.03

    def test_memory_is_about_two_bytes_an_id(self) -> None:
        written = WrittenEventIds(expected=100_000)
        for i in range(100_000):
            written.add(f"evt-{i}")
        assert written.nbytes <= 4 * 100_000


class TestIdempotencyWithoutAReadPerEvent:
    def test_new_events_are_decided_without_reading_the_log(
        self,
        database_url: str,
        service_factory: ServiceFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        service = service_factory(database_url)
        reads = count_log_reads(service, monkeypatch)
        for _ in range(20):
            service.decide(parse_event(make_event()))
        assert reads == []

    def test_a_resend_is_answered_with_the_first_decision_after_a_restart(
        self,
        database_url: str,
        service_factory: ServiceFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        raws = [make_event(customer_id=f"cust-{i % 3}") for i in range(12)]
        one = service_factory(database_url)
        first = [one.decide(parse_event(raw)) for raw in raws]
        one.close()
        two = service_factory(database_url)
        reads = count_log_reads(two, monkeypatch)
        again = [two.decide(parse_event(raw)) for raw in raws]
        assert [d["decision_id"] for d in again] == [d["decision_id"] for d in first]
        assert reads == [raw["event_id"] for raw in raws]  # each one looked up, none decided
        assert count_rows(two.db, "events") == len(raws)

    def test_a_resend_while_running_is_answered_with_the_first_decision(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        raw = make_event()
        first = service.decide(parse_event(raw))
        assert service.decide(parse_event(raw))["decision_id"] == first["decision_id"]
        assert count_rows(service.db, "decisions") == 1

    def test_a_reused_id_with_another_body_is_refused_before_and_after_a_restart(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        raw = make_event(amount="100")
        one = service_factory(database_url)
        one.decide(parse_event(raw))
        other = {**raw, "amount": "999"}
        with pytest.raises(IdempotencyMismatch):
            one.decide(parse_event(other))
        one.close()
        two = service_factory(database_url)
        with pytest.raises(IdempotencyMismatch):
            two.decide(parse_event(other))
        assert count_rows(two.db, "events") == 1

    def test_concurrent_resends_on_the_loop_get_one_decision(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        service = service_factory(database_url)
        raw = make_event()

        async def send_five() -> list[dict[str, Any]]:
            return await asyncio.gather(*(service.decide_async(parse_event(raw)) for _ in range(5)))

        decisions = asyncio.run(send_five())
        assert len({d["decision_id"] for d in decisions}) == 1
        assert count_rows(service.db, "decisions") == 1

    def test_an_event_another_writer_logged_is_refused_once_then_recognised(
        self, database_url: str, service_factory: ServiceFactory
    ) -> None:
        """Memory state has one owner; if another process writes the same log anyway, the
        unique event id stops the second write, and the rebuild that follows learns the id."""
        owner = service_factory(database_url)
        intruder = service_factory(database_url)
        raw = make_event()
        theirs = intruder.decide(parse_event(raw))
        with pytest.raises(Conflict):
            owner.decide(parse_event(raw))
        assert owner.decide(parse_event(raw))["decision_id"] == theirs["decision_id"]
        assert count_rows(owner.db, "events") == 1
