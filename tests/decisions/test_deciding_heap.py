"""The decision path leaves no reference cycles behind, so freezing the collector's generations
(what the decider does after start and every FREEZE_EVERY events, to keep full collections out
of the tail) never keeps its garbage alive."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from fixtures import T0, make_event
from lendguard.decisions.service import DecisionService
from lendguard.events.parse import parse_event
from lendguard.events.schemas import Event

ServiceFactory = Callable[..., DecisionService]


def events(count: int, prefix: str) -> list[Event]:
    """A mix of event types over a few customers, payees and devices."""
    kinds = ["login", "payment", "transfer", "deposit", "withdrawal", "application"]
    return [
        parse_event(
            make_event(
                type=kinds[i % len(kinds)],
                customer_id=f"{prefix}-cust-{i % 7}",
                device_id=f"{prefix}-dev-{i % 3}",
                payee_id=f"{prefix}-payee-{i % 5}",
                occurred_at=T0 + timedelta(minutes=i),
            )
        )
        for i in range(count)
    ]


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cyclic_garbage() -> int:
    """Objects only a reference cycle kept alive since the last collection."""
    return gc.collect()


def test_deciding_one_by_one_makes_no_cyclic_garbage(
    sqlite_url: str, service_factory: ServiceFactory, collector_off: None
) -> None:
    service = service_factory(sqlite_url)
    for event in events(20, "warm"):  # first calls fill caches once
        service.decide(event)
    batch = events(300, "measured")
    cyclic_garbage()
    for event in batch:
        service.decide(event)
    assert cyclic_garbage() == 0


def test_deciding_on_the_loop_makes_no_cyclic_garbage(
    sqlite_url: str, service_factory: ServiceFactory, collector_off: None
) -> None:
    service = service_factory(sqlite_url)

    async def decide_all(batch: list[Event]) -> None:
        async def caller(start: int) -> None:
            for event in batch[start::8]:
                await service.decide_async(event)

        await asyncio.gather(*(caller(k) for k in range(8)))

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(decide_all(events(40, "warm")))
        batch = events(300, "measured")
        cyclic_garbage()
        loop.run_until_complete(decide_all(batch))
        assert cyclic_garbage() == 0
    finally:
        loop.close()
