"""What ``lendguard stream publish`` and ``lendguard stream status`` do: publish events as a
lender would, and show each partition's backlog and owner."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from lendguard.stream.leases import PARTITION_KEY
from lendguard.stream.partitions import (
    consumer_name,
    events_subject,
    leases_bucket,
    partition_of,
    stream_name,
)

# Publishes in flight at once (each still waits for its acknowledgement).
PUBLISH_WINDOW = 256


@dataclass
class PublishReport:
    published: int = 0
    # Acknowledged as a duplicate (same Nats-Msg-Id inside the duplicate window).
    duplicates: int = 0
    # (line number, why) for each line that could not be published.
    refused: list[tuple[int, str]] = field(default_factory=list)


def _routable(line: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, "not JSON"
    if not isinstance(event, dict):
        return None, "not a JSON object"
    if not isinstance(event.get("customer_id"), str) or not event["customer_id"]:
        return None, "no customer_id (the partition is a function of it)"
    if not isinstance(event.get("event_id"), str) or not event["event_id"]:
        return None, "no event_id (the de-duplication id)"
    return event, ""


async def publish_events(
    js: JetStreamContext, prefix: str, partitions: int, lines: Iterable[bytes]
) -> PublishReport:
    """Publish each JSON line to its customer's partition with ``Nats-Msg-Id`` = the event id,
    waiting for every acknowledgement; blank lines are skipped, the others refused with why."""
    report = PublishReport()
    window: list[asyncio.Task[Any]] = []

    async def drain() -> None:
        for ack in await asyncio.gather(*window):
            report.published += 1
            if ack.duplicate:
                report.duplicates += 1
        window.clear()

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        event, why = _routable(line)
        if event is None:
            report.refused.append((number, why))
            continue
        subject = events_subject(prefix, partition_of(event["customer_id"], partitions))
        window.append(
            asyncio.create_task(
                js.publish(subject, line.strip(), headers={"Nats-Msg-Id": event["event_id"]})
            )
        )
        if len(window) >= PUBLISH_WINDOW:
            await drain()
    await drain()
    return report


async def stream_status(js: JetStreamContext, prefix: str, partitions: int) -> dict[str, Any]:
    """Per partition: events not yet delivered, delivered but unacknowledged, and the worker
    holding it (None: nobody)."""
    try:
        kv = await js.key_value(leases_bucket(prefix))
    except BucketNotFoundError:
        kv = None
    rows: list[dict[str, Any]] = []
    events = stream_name(prefix, "events")
    for partition in range(partitions):
        row: dict[str, Any] = {"partition": partition}
        try:
            info = await js.consumer_info(events, consumer_name(prefix, partition))
            row["pending"] = info.num_pending
            row["unacknowledged"] = info.num_ack_pending
            row["redelivered"] = info.num_redelivered
        except NotFoundError:
            row["pending"] = row["unacknowledged"] = row["redelivered"] = None
        owner = None
        if kv is not None:
            try:
                entry = await kv.get(f"{PARTITION_KEY}{partition}")
                owner = entry.value.decode() if entry.value else None
            except NotFoundError:  # never taken, expired or released
                owner = None
        row["owner"] = owner
        rows.append(row)
    totals: dict[str, Any] = {"streams": {}}
    for kind in ("events", "decisions", "deadletter"):
        try:
            info = await js.stream_info(stream_name(prefix, kind))
            totals["streams"][stream_name(prefix, kind)] = info.state.messages
        except NotFoundError:
            totals["streams"][stream_name(prefix, kind)] = None
    return {"partitions": rows, **totals}


async def connect_once(url: str, name: str) -> NatsClient:
    """A connection for a one-shot command: fails at once (``NoServersError``) when NATS is
    not there, without the client's default two minutes of retries and tracebacks."""

    async def quiet(_exc: Exception) -> None:
        return None

    # (The client retries the initial connection max_reconnect_attempts times, whatever
    # allow_reconnect says.)
    return await nats.connect(
        url,
        name=name,
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.2,
        error_cb=quiet,
    )
