"""One worker in this process against the real NATS, on SQLite with in-process state: every
published event gets exactly one decision row and one decision message, duplicates change
nothing, and poison messages go to the dead-letter subject without stopping the partition."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from fixtures import make_event
from lendguard.app import Services, build_services
from lendguard.config import Settings
from lendguard.stream.health import HealthServer
from lendguard.stream.partitions import (
    consumer_name,
    events_subject,
    partition_of,
    stream_name,
)
from lendguard.stream.streams import ensure_streams
from lendguard.stream.worker import StreamWorker
from lendguard.web.responses import JSONResponse
from stream.conftest import (
    PARTITIONS,
    PATIENCE_S,
    connect,
    decision_rows,
    eventually,
    publish,
    running_worker,
    stream_messages,
    stream_settings,
)


@pytest.fixture
def settings(nats_url: str, sqlite_url: str, stream_prefix: str) -> Settings:
    return stream_settings(nats_url, sqlite_url, stream_prefix)


def subject_of(settings: Settings, event: dict[str, str]) -> str:
    return events_subject(
        settings.stream_prefix, partition_of(event["customer_id"], settings.stream_partitions)
    )


async def settled(settings: Settings, nats_url: str) -> bool:
    """Nothing waiting and nothing unacknowledged on any partition."""
    nc, js = await connect(nats_url)
    try:
        for partition in range(settings.stream_partitions):
            info = await js.consumer_info(
                stream_name(settings.stream_prefix, "events"),
                consumer_name(settings.stream_prefix, partition),
            )
            if info.num_pending or info.num_ack_pending:
                return False
        return True
    finally:
        await nc.close()


def test_an_event_gets_one_decision_row_and_one_decision_message(
    settings: Settings, services: Services, nats_url: str
) -> None:
    event = make_event(customer_id="cust-stream-1")

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        try:
            async with running_worker(settings, services) as worker:
                assert worker.partitions == list(range(PARTITIONS))
                await publish(js, subject_of(settings, event), event, event["event_id"])
                await eventually(lambda: settled(settings, nats_url), "the event to be acked")
                decisions = await stream_messages(js, settings.stream_prefix, "decisions")
                assert worker.stats.decided == 1
        finally:
            await nc.close()
        assert decision_rows(services) == {event["event_id"]: 1}
        assert len(decisions) == 1
        headers, body = decisions[0]
        assert headers["Nats-Msg-Id"] == event["event_id"]
        # The same body as the API's answer (the stored decision, answered again, as JSON).
        again = services.decisions.decide_many([event])[0]
        assert body == orjson.loads(JSONResponse(again).body)
        assert body["event_id"] == event["event_id"]

    asyncio.run(scenario())


def test_an_event_published_twice_is_decided_once_with_the_same_answer(
    settings: Settings, services: Services, nats_url: str
) -> None:
    event = make_event(customer_id="cust-stream-2")
    subject = subject_of(settings, event)

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        try:
            async with running_worker(settings, services) as worker:
                # Different Nats-Msg-Ids: JetStream keeps both, the decision log absorbs one.
                await publish(js, subject, event, "first-publish")
                await eventually(lambda: settled(settings, nats_url), "the first to be acked")
                await publish(js, subject, event, "second-publish")
                await publish(js, subject, event, None)
                await eventually(lambda: settled(settings, nats_url), "the copies to be acked")
                assert worker.stats.decided == 3
                assert worker.stats.dead_lettered == 0
            decisions = await stream_messages(js, settings.stream_prefix, "decisions")
        finally:
            await nc.close()
        assert decision_rows(services) == {event["event_id"]: 1}
        # Published again with the same Nats-Msg-Id: the decisions stream dropped the copies.
        assert [h["Nats-Msg-Id"] for h, _ in decisions] == [event["event_id"]]

    asyncio.run(scenario())


def test_poison_messages_are_dead_lettered_and_the_partition_goes_on(
    settings: Settings, services: Services, nats_url: str
) -> None:
    customer = "cust-stream-3"
    good = make_event(customer_id=customer)
    subject = subject_of(settings, good)
    invalid = make_event(customer_id=customer, amount="lots")
    reused = dict(good, amount="999.00")  # the same event id with another body
    nul = make_event(customer_id=customer, device_id="dev\u0000x")
    after = make_event(customer_id=customer)

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        try:
            # In one partition, in this order, before the worker starts: decided as one batch.
            messages: list[tuple[bytes | dict[str, Any], str]] = [
                (b"{not json", "raw-1"),
                (b"[1, 2]", "raw-2"),
                (invalid, invalid["event_id"]),
                (good, good["event_id"]),
                (reused, "reused"),
                (nul, nul["event_id"]),
                (after, after["event_id"]),
            ]
            await ensure_streams(js, settings)
            for payload, msg_id in messages:
                await publish(js, subject, payload, msg_id)
            async with running_worker(settings, services) as worker:
                await eventually(lambda: settled(settings, nats_url), "every message to be done")
                assert worker.stats.decided == 2
                assert worker.stats.dead_lettered == 5
            dead = await stream_messages(js, settings.stream_prefix, "deadletter")
            decisions = await stream_messages(js, settings.stream_prefix, "decisions")
        finally:
            await nc.close()
        assert decision_rows(services) == {good["event_id"]: 1, after["event_id"]: 1}
        assert [h["Nats-Msg-Id"] for h, _ in decisions] == [good["event_id"], after["event_id"]]
        # In the order they were published (refusals found while parsing are sent first).
        dead.sort(key=lambda message: int(message[1]["stream_sequence"]))
        by_status = [(body["problem"]["status"], body["problem"]["title"]) for _, body in dead]
        assert by_status[0] == (400, "Malformed JSON")
        assert dead[0][1]["raw"] == "{not json"
        assert by_status[1][0] == 422
        assert dead[1][1]["event"] == [1, 2]
        assert by_status[2][0] == 422
        problem = dead[2][1]["problem"]
        assert set(problem) == {"type", "title", "status", "detail", "errors"}
        assert any(e["field"] == "amount" for e in problem["errors"])
        assert dead[2][1]["event"]["event_id"] == invalid["event_id"]
        # The reused id: refused (the first body's decision stands).
        assert dead[3][1]["event"]["amount"] == "999.00"
        assert dead[3][1]["problem"]["errors"][0]["field"] == "event_id"
        # A control character: refused as the HTTP edge refuses it, naming the field.
        assert by_status[4] == (422, "Validation failed")
        assert dead[4][1]["problem"]["errors"][0]["field"] == "device_id"
        assert all(body["partition"] == partition_of(customer, PARTITIONS) for _, body in dead)

    asyncio.run(scenario())


def test_readiness_reports_partitions_and_counts(
    settings: Settings, services: Services, nats_url: str
) -> None:
    event = make_event(customer_id="cust-stream-4")

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        try:
            async with running_worker(settings, services) as worker:
                health = HealthServer(worker, "127.0.0.1", 0)
                await health.start()
                try:
                    await publish(js, subject_of(settings, event), event, event["event_id"])
                    await eventually(lambda: settled(settings, nats_url), "the event to be acked")
                    base = f"http://127.0.0.1:{health.port}"
                    async with httpx.AsyncClient(base_url=base) as client:
                        alive = await client.get("/healthz")
                        ready = await client.get("/readyz")
                finally:
                    await health.stop()
        finally:
            await nc.close()
        assert alive.status_code == 200
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["checks"] == {"database": "ok", "nats": "ok"}
        assert body["partitions"] == list(range(PARTITIONS))
        assert body["paused"] is False
        assert (body["decided"], body["dead_lettered"]) == (1, 0)

    asyncio.run(scenario())


class FailingFor:
    """The real decision service, except that deciding one given event raises a programming
    error (fault injection: a bug the events cannot be blamed on until it keeps happening)."""

    def __init__(self, services: Services, event_id: str) -> None:
        self.real = services.decisions
        self.event_id = event_id
        self.calls = 0

    def decide_many(self, events: Any) -> Any:
        items = list(events)
        if any(item.get("event_id") == self.event_id for item in items):
            self.calls += 1
            raise RuntimeError("an internal fault")
        return self.real.decide_many(items)


def test_an_event_that_keeps_failing_internally_is_set_aside_after_max_deliver(
    settings: Settings, services: Services, nats_url: str
) -> None:
    customer = "cust-stream-5"
    before, broken, after = (make_event(customer_id=customer) for _ in range(3))
    subject = subject_of(settings, before)
    failing = FailingFor(services, broken["event_id"])

    async def scenario() -> None:
        nc, js = await connect(nats_url)
        try:
            await ensure_streams(js, settings)
            for event in (before, broken, after):
                await publish(js, subject, event, event["event_id"])
            async with running_worker(settings, services, decisions=failing) as worker:
                await eventually(lambda: settled(settings, nats_url), "the batch to be done")
                assert (worker.stats.decided, worker.stats.dead_lettered) == (2, 1)
            dead = await stream_messages(js, settings.stream_prefix, "deadletter")
        finally:
            await nc.close()
        assert decision_rows(services) == {before["event_id"]: 1, after["event_id"]: 1}
        # Once with the whole batch, then alone until max_deliver - 1 tries in all.
        assert failing.calls == 1 + (settings.worker_max_deliver - 1)
        [(_, body)] = dead
        assert body["event"]["event_id"] == broken["event_id"]
        assert body["problem"]["status"] == 500
        assert "failed 4 times (RuntimeError)" in body["problem"]["detail"]

    asyncio.run(scenario())


def test_an_event_over_the_body_limit_is_dead_lettered_without_its_payload(
    nats_url: str, sqlite_url: str, stream_prefix: str
) -> None:
    settings = stream_settings(nats_url, sqlite_url, stream_prefix, max_body_bytes=600)
    services = build_services(settings, migrate=False)
    small = make_event(customer_id="cust-stream-6")
    large = make_event(customer_id="cust-stream-6", attributes={"note": "x" * 600})
    subject = subject_of(settings, small)

    async def scenario() -> list[tuple[dict[str, str], Any]]:
        nc, js = await connect(nats_url)
        try:
            await ensure_streams(js, settings)
            await publish(js, subject, large, large["event_id"])
            await publish(js, subject, small, small["event_id"])
            async with running_worker(settings, services) as worker:
                await eventually(lambda: settled(settings, nats_url), "both to be done")
                assert (worker.stats.decided, worker.stats.dead_lettered) == (1, 1)
            return await stream_messages(js, settings.stream_prefix, "deadletter")
        finally:
            await nc.close()

    try:
        [(_, body)] = asyncio.run(scenario())
        assert decision_rows(services) == {small["event_id"]: 1}
    finally:
        services.close()
        services.decisions.db.dispose()
    assert body["problem"]["status"] == 413
    assert "LENDGUARD_MAX_BODY_BYTES" in body["problem"]["detail"]
    assert "raw" not in body
    assert "event" not in body
    assert body["stream_sequence"] == 1


def test_a_second_worker_on_in_process_state_refuses_to_start(
    settings: Settings, services: Services
) -> None:
    """Memory state lives in one process: a second worker would split every count."""
    assert settings.state_backend == "memory"

    async def scenario() -> None:
        async with running_worker(settings, services, worker_id="w-first"):
            second = StreamWorker(settings, services.decisions, worker_id="w-second")
            await second.connect()
            try:
                with pytest.raises(RuntimeError, match="LENDGUARD_STATE_BACKEND=shared"):
                    await asyncio.wait_for(second.run(), PATIENCE_S)
            finally:
                if second.nc is not None:
                    await second.nc.close()

    asyncio.run(scenario())
