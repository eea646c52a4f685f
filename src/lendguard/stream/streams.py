"""The JetStream streams and consumers LendGuard uses, created or brought up to date at start.

Three streams, named from ``LENDGUARD_STREAM_PREFIX`` (``lendguard`` → ``LENDGUARD_*``):

- ``<PREFIX>_EVENTS`` (``<prefix>.events.*``): what lenders publish, one subject per partition.
- ``<PREFIX>_DECISIONS`` (``<prefix>.decisions.*``): one decision per event, ``Nats-Msg-Id`` =
  the event id (a decision published again inside the duplicate window is dropped).
- ``<PREFIX>_DEADLETTER`` (``<prefix>.deadletter.*``): refused events with their problem.

All three use file storage and limits retention with a maximum age (7 days for events and
decisions, 30 days for dead letters, which an operator must look at): nothing grows without
bound, and an event nobody decided within 7 days is dropped (``lendguard stream status`` shows
what is pending long before that). The duplicate window is ``LENDGUARD_STREAM_DUPLICATE_WINDOW_S``.

Durability — the choice is ``sync_interval: always`` (``deploy/nats-server.conf``). By default
JetStream acknowledges a publish once the message is in the operating system's page cache and
fsyncs every 2 minutes, so a power loss (or a kernel crash) loses acknowledged events: Jepsen
showed it in NATS 2.12.1 (2025-12). An event is a customer's payment, loan or contact, and a
lender that got the acknowledgement will not send it again, so LendGuard takes the fsync per
write (a few hundred microseconds on an SSD, amortised by the server's batching). The setting is
a *server* option (``jetstream { sync_interval: always }``, nats-server 2.10 and later), it
cannot be set per stream, and the server does not report it over the protocol:
``lendguard worker --init-streams`` therefore prints :func:`durability_warning` once (on a 2.9
server, which has no such option, it says the 2-minute window applies until an upgrade).
Clustered (R3) streams shrink but do not remove the window (a correlated power loss takes all
replicas' page caches).
"""

from __future__ import annotations

from typing import Protocol

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from lendguard.stream.partitions import consumer_name, events_subject, stream_name

# How long events and decisions are kept (limits retention): bounded growth, and a week to
# notice a stopped worker.
EVENTS_MAX_AGE_S = 7 * 24 * 3600.0
DECISIONS_MAX_AGE_S = 7 * 24 * 3600.0
DEADLETTER_MAX_AGE_S = 30 * 24 * 3600.0

DURABILITY_ADVICE = (
    "durability: LendGuard cannot confirm that this NATS server fsyncs every write. Run it with "
    "`jetstream { sync_interval: always }` (see deploy/nats-server.conf): with the default "
    "(fsync every 2 minutes) a power loss loses events JetStream has already acknowledged."
)


def durability_warning(major: int, minor: int) -> str:
    """The line ``--init-streams`` prints: the advice, or, for a server too old to have the
    option (before 2.10), that the 2-minute window applies until it is upgraded."""
    if (major, minor) < (2, 10):
        return (
            f"durability: this NATS server ({major}.{minor}) has no `sync_interval` option: it "
            "fsyncs every 2 minutes, so a power loss can lose events it has already "
            "acknowledged. Upgrade to 2.10 or later and run it with deploy/nats-server.conf "
            "(`jetstream { sync_interval: always }`)."
        )
    return DURABILITY_ADVICE


class StreamSettings(Protocol):
    """The settings the stream layout is built from (a :class:`lendguard.config.Settings`)."""

    stream_prefix: str
    stream_partitions: int
    stream_duplicate_window_s: float
    worker_ack_wait_s: float
    worker_max_deliver: int
    worker_batch: int


def stream_configs(settings: StreamSettings) -> list[StreamConfig]:
    prefix = settings.stream_prefix
    layout = (
        ("events", EVENTS_MAX_AGE_S),
        ("decisions", DECISIONS_MAX_AGE_S),
        ("deadletter", DEADLETTER_MAX_AGE_S),
    )
    return [
        StreamConfig(
            name=stream_name(prefix, kind),
            subjects=[f"{prefix}.{kind}.*"],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_age=max_age,
            duplicate_window=min(settings.stream_duplicate_window_s, max_age),
            num_replicas=1,
        )
        for kind, max_age in layout
    ]


def consumer_config(settings: StreamSettings, partition: int) -> ConsumerConfig:
    """A partition's durable pull consumer. ``max_ack_pending`` is one batch: while a batch is
    unacknowledged nothing newer is delivered, so a worker taking over a partition gets the old
    owner's unfinished batch first (after ``ack_wait``), and the customer's order holds."""
    name = consumer_name(settings.stream_prefix, partition)
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=events_subject(settings.stream_prefix, partition),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.worker_ack_wait_s,
        max_deliver=settings.worker_max_deliver,
        max_ack_pending=settings.worker_batch,
    )


async def ensure_streams(js: JetStreamContext, settings: StreamSettings) -> list[str]:
    """Create the three streams and every partition's consumer, or update them to the settings
    (idempotent: safe on every start and from several workers). Returns the stream names."""
    names: list[str] = []
    for config in stream_configs(settings):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
        names.append(config.name)
    await ensure_consumers(js, settings)
    return names


async def ensure_consumers(js: JetStreamContext, settings: StreamSettings) -> None:
    """Every partition's durable consumer, created or updated (a 2.9 server's create is
    create-or-update for the fields it allows to change)."""
    events = stream_name(settings.stream_prefix, "events")
    for partition in range(settings.stream_partitions):
        await js.add_consumer(events, consumer_config(settings, partition))


async def delete_streams(js: JetStreamContext, prefix: str) -> None:
    """Remove the three streams of a prefix (their consumers go with them); for tests and
    tenants being taken down."""
    for kind in ("events", "decisions", "deadletter"):
        try:
            await js.delete_stream(stream_name(prefix, kind))
        except NotFoundError:
            continue
