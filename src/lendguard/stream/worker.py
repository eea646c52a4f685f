"""``lendguard worker``: decide the events lenders publish to NATS JetStream.

One consume loop per partition this worker holds (see :mod:`lendguard.stream.leases`):

1. fetch up to ``LENDGUARD_WORKER_BATCH`` messages from the partition's durable consumer;
2. parse each (not JSON, or not an object: dead letter);
3. decide the rest with ``decide_many`` on a thread (the same code as the HTTP API; it returns
   once every decision is committed);
4. publish each decision to ``<prefix>.decisions.<p>`` with ``Nats-Msg-Id`` = the event id and
   wait for JetStream's acknowledgement;
5. only then acknowledge the event.

Redelivery and duplicate publishes are absorbed by the decision log's idempotency on
``event_id``: the same event decided again returns the stored decision, and its decision
published again is dropped by the decisions stream's duplicate window. (An event redelivered
after that window, e.g. after an outage longer than it, has its decision published a second
time, with the same body and ``Nats-Msg-Id``: readers of the decisions stream keep the first
per event id.)

Failures, so that nothing is lost and nothing blocks:

- An event the service refuses (4xx: invalid, ``event_id`` reused with another body) goes to
  ``<prefix>.deadletter.<p>`` with the original payload and its RFC 9457 problem, and is
  terminated: a poison message never blocks its partition.
- A dependency failure (the database or NATS away: ``decide_many`` raises, or answers 503, or a
  publish fails) is not acknowledged: the batch is kept (``in_progress`` extends its AckWait)
  and tried again, backing off from 0.5 s to 5 s, until it goes through; consumption pauses
  meanwhile and resumes by itself. ``/readyz`` says which dependency is down.
- Any other failure is retried on its own, event by event, and an event that has failed that
  way ``LENDGUARD_WORKER_MAX_DELIVER - 1`` times (deliveries included) is dead-lettered with a
  problem saying so.

No exception ends a partition loop, and log lines carry the event id and partition only (a
customer id may itself be personal information; payloads are never logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import nats
import nats.errors
import orjson
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import exc as sa_exc

from lendguard.errors import Conflict, FieldError, LendGuardError, ServiceUnavailable
from lendguard.events.schemas import free_text_problem
from lendguard.stream.leases import PartitionLeases, leases_kv
from lendguard.stream.partitions import (
    consumer_name,
    deadletter_subject,
    decisions_subject,
    stream_name,
)
from lendguard.stream.streams import StreamSettings, ensure_consumers

log = structlog.get_logger(__name__)

PROBLEM_TYPE = "about:blank"
# An escaped C0 control character or DEL in JSON text (\u0000-\u001f, \u007f), and how deep
# a payload holding one is walked: as the HTTP edge does (lendguard.web.guard).
_ESCAPED_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]")
_MAX_DEPTH = 64
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 5.0
DEFAULT_LEASE_TTL_S = 10.0


class Decisions(Protocol):
    """What the worker needs of :class:`lendguard.decisions.service.DecisionService`."""

    def decide_many(self, events: Any) -> list[dict[str, Any] | LendGuardError]: ...


class WorkerSettings(StreamSettings, Protocol):
    nats_url: str
    max_body_bytes: int

    @property
    def state_backend(self) -> str: ...


def is_dependency_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means a dependency (the database, NATS, the network) is away, rather than a
    fault of the events being decided: the batch is then retried without limit."""
    if isinstance(exc, ServiceUnavailable | nats.errors.Error):
        return True
    if isinstance(exc, sa_exc.IntegrityError):
        return False
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError):
        return True
    # psycopg's own errors (the hot path may use the driver directly).
    if type(exc).__name__ in {"OperationalError", "InterfaceError"}:
        return True
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


def problem_document(
    status: int, title: str, detail: str, errors: Sequence[Any] = ()
) -> dict[str, Any]:
    """The API's RFC 9457 problem shape (``lendguard.web.responses.problem``)."""
    return {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }


def control_character_problem(raw: bytes, item: dict[str, Any]) -> dict[str, Any] | None:
    """The HTTP edge's refusal (:class:`lendguard.web.guard.ControlCharacterGuard`), for the
    stream: a string or key holding NUL or another control character (PostgreSQL refuses NUL
    in text, deep in a write). JSON must escape them, so only a payload with such an escape is
    walked."""
    if not _ESCAPED_CONTROL.search(raw):
        return None
    found = free_text_problem(item, max_depth=_MAX_DEPTH)
    if found is None:
        return None
    field, message = found
    return problem_document(
        422,
        "Validation failed",
        "the event holds a control character or nests too deep",
        [FieldError(field or "body", message)],
    )


def problem_of(error: LendGuardError) -> dict[str, Any]:
    return problem_document(error.status_code, error.title, error.detail, error.errors)


@dataclass(eq=False)
class _Job:
    """One delivered event on its way through a batch."""

    msg: Msg
    item: dict[str, Any]
    # Internal failures of this event in this process (deliveries counted separately).
    failures: int = 0

    @property
    def event_id(self) -> str | None:
        value = self.item.get("event_id")
        return value if isinstance(value, str) else None

    def attempts(self) -> int:
        """Times this event has been tried: earlier deliveries plus failures here."""
        return max(0, self.msg.metadata.num_delivered - 1) + self.failures


class Backoff:
    """0.5 s doubling to 5 s; :meth:`sleep` wakes early when ``stop`` is set."""

    def __init__(self) -> None:
        self.delay = BACKOFF_FIRST_S

    def reset(self) -> None:
        self.delay = BACKOFF_FIRST_S

    async def sleep(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.delay)
        self.delay = min(self.delay * 2, BACKOFF_MAX_S)


@dataclass
class WorkerStats:
    """What ``/readyz`` reports."""

    decided: int = 0
    dead_lettered: int = 0
    checks: dict[str, str] = field(default_factory=lambda: {"database": "ok", "nats": "ok"})
    # Partitions whose current batch waits on a dependency.
    paused: set[int] = field(default_factory=set)


class _Abandoned(Exception):
    """The batch in hand is left unacknowledged (stopping, or the lease is gone): JetStream
    delivers it again to whoever holds the partition."""


@dataclass
class _PartitionRun:
    task: asyncio.Task[None]
    stop: asyncio.Event


class StreamWorker:
    """Holds partitions and runs their consume loops (see the module doc)."""

    def __init__(
        self,
        settings: WorkerSettings,
        decisions: Decisions,
        *,
        worker_id: str | None = None,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        fetch_timeout_s: float = 1.0,
        database_check: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.decisions = decisions
        # A key of the lease bucket: letters, digits, '-' and '_' only.
        host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]
        self.worker_id = worker_id or f"{host}-{uuid.uuid4().hex[:8]}"
        self.lease_ttl_s = lease_ttl_s
        self.fetch_timeout_s = fetch_timeout_s
        self.database_check = database_check
        self.stats = WorkerStats()
        self.stopping = asyncio.Event()
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.leases: PartitionLeases | None = None
        self._runs: dict[int, _PartitionRun] = {}
        self._releasing: set[int] = set()
        self._release_tasks: set[asyncio.Task[None]] = set()
        self.started = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def partitions(self) -> list[int]:
        """The partitions this worker fetches from now."""
        leases = self.leases
        return sorted(p for p in self._runs if leases is not None and leases.held(p))

    async def connect(self) -> JetStreamContext:
        """Connect to NATS, waiting for it if it is not up yet (a worker started before its
        dependencies, or during an outage, starts by itself once they are there)."""
        self.nc = await nats.connect(
            self.settings.nats_url,
            name=f"lendguard-worker-{self.worker_id}",
            connect_timeout=3,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=self._nats_error,
            disconnected_cb=self._nats_disconnected,
            reconnected_cb=self._nats_reconnected,
        )
        self.js = self.nc.jetstream()
        return self.js

    async def run(self) -> None:
        """Run until :meth:`stop`: hold partitions, decide their events, then hand them back."""
        js = self.js or await self.connect()
        try:
            await js.stream_info(stream_name(self.settings.stream_prefix, "events"))
        except NotFoundError:
            raise RuntimeError(
                f"the stream {stream_name(self.settings.stream_prefix, 'events')} does not "
                "exist: run `lendguard worker --init-streams` once"
            ) from None
        await ensure_consumers(js, self.settings)
        kv = await leases_kv(js, self.settings.stream_prefix, self.lease_ttl_s)
        leases = self.leases = PartitionLeases(
            kv, self.worker_id, self.settings.stream_partitions, self.lease_ttl_s
        )
        if self.settings.state_backend == "memory":
            others = [w for w in await leases.live_workers() if w != self.worker_id]
            if others:
                # Each would keep its own window state: counts split between processes.
                raise RuntimeError(
                    f"{len(others)} other worker(s) are running on these streams and "
                    "LENDGUARD_STATE_BACKEND=memory keeps window state in one process: set "
                    "LENDGUARD_STATE_BACKEND=shared on every worker"
                )
        log.info("stream.worker_started", worker=self.worker_id)
        try:
            while not self.stopping.is_set():
                await self._lease_round(leases)
                self.started.set()  # after the first round: holding what it could take
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), leases.renew_every_s)
        finally:
            await self._shut_down(leases)

    def stop(self) -> None:
        self.stopping.set()

    async def _shut_down(self, leases: PartitionLeases) -> None:
        for run in self._runs.values():
            run.stop.set()
        runs = [run.task for run in self._runs.values()]
        if runs:
            # A batch stuck on a dependency is abandoned (unacknowledged: delivered again).
            await asyncio.wait(runs, timeout=max(5.0, self.fetch_timeout_s * 3))
            for task in runs:
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(leases.release_all(), 3.0)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 3.0)
        log.info("stream.worker_stopped", worker=self.worker_id)

    async def _lease_round(self, leases: PartitionLeases) -> None:
        try:
            changes = await leases.tick()
        except Exception as exc:  # NATS away: the leases lapse locally, loops stop fetching
            self.stats.checks["nats"] = f"error: {type(exc).__name__}"
            log.warning("stream.lease_round_failed", error=type(exc).__name__)
            return
        if self.nc is not None and self.nc.is_connected:
            self.stats.checks["nats"] = "ok"  # the bucket answered: NATS is back
        if changes.taken:
            log.info("stream.partitions_taken", partitions=changes.taken, worker=self.worker_id)
        for partition in changes.surplus:
            if partition not in self._releasing:
                self._releasing.add(partition)
                task = asyncio.create_task(self._hand_back(leases, partition))
                self._release_tasks.add(task)
                task.add_done_callback(self._release_tasks.discard)
        # Every held partition has a running loop (one may have ended when its lease lapsed
        # locally and then was renewed).
        for partition, run in list(self._runs.items()):
            if run.task.done() and partition not in self._releasing:
                del self._runs[partition]
        for partition in leases.owned:
            if partition not in self._runs and partition not in self._releasing:
                stop = asyncio.Event()
                task = asyncio.create_task(self._partition_loop(partition, stop))
                self._runs[partition] = _PartitionRun(task, stop)

    async def _hand_back(self, leases: PartitionLeases, partition: int) -> None:
        """Stop a surplus partition's loop (after the batch in hand), then release it."""
        try:
            run = self._runs.get(partition)
            if run is not None:
                run.stop.set()
                await asyncio.wait({run.task})
                self._runs.pop(partition, None)
            await leases.release(partition)
            log.info("stream.partition_released", partition=partition, worker=self.worker_id)
        except Exception as exc:  # the lease expires by itself
            log.warning("stream.release_failed", partition=partition, error=type(exc).__name__)
        finally:
            self._releasing.discard(partition)

    # -- NATS connection callbacks ----------------------------------------------------------

    async def _nats_error(self, exc: Exception) -> None:
        log.warning("stream.nats_error", error=type(exc).__name__)

    async def _nats_disconnected(self) -> None:
        if self.stopping.is_set():
            return  # our own close
        self.stats.checks["nats"] = "error: disconnected"
        log.warning("stream.nats_disconnected", worker=self.worker_id)

    async def _nats_reconnected(self) -> None:
        self.stats.checks["nats"] = "ok"
        log.info("stream.nats_reconnected", worker=self.worker_id)

    # -- one partition ------------------------------------------------------------------------

    def _may_go_on(self, partition: int, stop: asyncio.Event) -> bool:
        leases = self.leases
        return (
            not stop.is_set()
            and not self.stopping.is_set()
            and leases is not None
            and leases.held(partition)
        )

    async def _partition_loop(self, partition: int, stop: asyncio.Event) -> None:
        """Fetch and decide until the lease is gone or the worker stops; never raises."""
        js = self.js
        assert js is not None
        prefix = self.settings.stream_prefix
        backoff = Backoff()
        sub: JetStreamContext.PullSubscription | None = None
        log.info("stream.partition_started", partition=partition, worker=self.worker_id)
        try:
            while self._may_go_on(partition, stop):
                try:
                    if sub is None:
                        await self._wait_for_previous_owner(js, partition, stop)
                        sub = await js.pull_subscribe_bind(
                            consumer_name(prefix, partition), stream=stream_name(prefix, "events")
                        )
                        continue
                    try:
                        msgs = await sub.fetch(
                            self.settings.worker_batch, timeout=self.fetch_timeout_s
                        )
                    except TimeoutError:  # nothing to fetch (nats' and asyncio's timeouts)
                        continue
                    self.stats.checks["nats"] = "ok"
                    await self._handle_batch(partition, msgs, stop)
                    backoff.reset()
                except asyncio.CancelledError:
                    raise
                except _Abandoned:
                    break
                except Exception as exc:  # never let one failure end the partition
                    if is_dependency_failure(exc):
                        self.stats.checks["nats"] = f"error: {type(exc).__name__}"
                        log.warning(
                            "stream.fetch_failed", partition=partition, error=type(exc).__name__
                        )
                    else:
                        log.exception("stream.partition_error", partition=partition)
                    await backoff.sleep(stop)
        finally:
            self.stats.paused.discard(partition)
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            log.info("stream.partition_stopped", partition=partition, worker=self.worker_id)

    async def _wait_for_previous_owner(
        self, js: JetStreamContext, partition: int, stop: asyncio.Event
    ) -> None:
        """A partition taken over with messages still unacknowledged (the old owner died mid
        batch): wait one AckWait, so they are delivered again *before* anything newer and the
        customer's order holds (``max_ack_pending`` is one batch, so nothing newer can be
        delivered while they block it, unless the old batch was short)."""
        prefix = self.settings.stream_prefix
        info = await js.consumer_info(
            stream_name(prefix, "events"), consumer_name(prefix, partition)
        )
        if info.num_ack_pending:
            log.info(
                "stream.waiting_for_redelivery",
                partition=partition,
                unacknowledged=info.num_ack_pending,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker_ack_wait_s)

    async def _handle_batch(self, partition: int, msgs: list[Msg], stop: asyncio.Event) -> None:
        jobs: list[_Job] = []
        for msg in msgs:
            if len(msg.data) > self.settings.max_body_bytes:
                # The API's limit on a request body (413 there), so both paths take the same.
                await self._dead_letter(
                    partition,
                    msg,
                    None,
                    problem_document(
                        413,
                        "Payload too large",
                        f"the event is {len(msg.data)} bytes; at most "
                        f"{self.settings.max_body_bytes} (LENDGUARD_MAX_BODY_BYTES)",
                    ),
                    stop,
                    keep_raw=False,
                )
                continue
            try:
                item = orjson.loads(msg.data)
            except orjson.JSONDecodeError as exc:
                await self._dead_letter(
                    partition,
                    msg,
                    None,
                    problem_document(400, "Malformed JSON", f"the event is not JSON: {exc}"),
                    stop,
                )
                continue
            if not isinstance(item, dict):
                await self._dead_letter(
                    partition,
                    msg,
                    item,
                    problem_document(422, "Validation failed", "an event is a JSON object"),
                    stop,
                )
                continue
            refusal = control_character_problem(msg.data, item)
            if refusal is not None:
                await self._dead_letter(partition, msg, item, refusal, stop)
                continue
            jobs.append(_Job(msg, item))
        if not jobs:
            return
        keepalive = asyncio.create_task(self._keep_alive(partition, jobs, stop))
        try:
            await self._decide_jobs(partition, jobs, stop)
        except _Abandoned:
            # Told back at once (not after AckWait): delivered again first, in order.
            for job in jobs:
                with contextlib.suppress(Exception):
                    await job.msg.nak()
            raise
        finally:
            keepalive.cancel()
            self.stats.paused.discard(partition)

    async def _keep_alive(self, partition: int, jobs: list[_Job], stop: asyncio.Event) -> None:
        """Extend the AckWait of the batch in hand while it is decided or retried (only while
        the lease holds: a worker that lost the partition lets the messages go back)."""
        interval = max(0.1, self.settings.worker_ack_wait_s / 3)
        while True:
            await asyncio.sleep(interval)
            if not self._may_go_on(partition, stop):
                return
            for job in list(jobs):
                with contextlib.suppress(Exception):
                    await job.msg.in_progress()

    async def _decide_jobs(self, partition: int, jobs: list[_Job], stop: asyncio.Event) -> None:
        """Decide, publish and acknowledge every job (removing each from ``jobs`` as it is
        done), retrying what failed; raises :class:`_Abandoned` when told to stop."""
        backoff = Backoff()
        one_by_one = False
        max_attempts = self.settings.worker_max_deliver - 1
        while jobs:
            if not self._may_go_on(partition, stop):
                raise _Abandoned
            batch = jobs[:1] if one_by_one else list(jobs)
            try:
                results = await asyncio.to_thread(
                    self.decisions.decide_many, [job.item for job in batch]
                )
            except Exception as exc:
                if is_dependency_failure(exc):
                    self._dependency_down(partition, "database", exc, len(batch))
                    await backoff.sleep(stop)
                    continue
                if len(batch) > 1:
                    # Find the event that fails: the others must not wait on it.
                    one_by_one = True
                    continue
                job = batch[0]
                job.failures += 1
                log.warning(
                    "stream.decide_failed",
                    partition=partition,
                    event_id=job.event_id,
                    error=type(exc).__name__,
                    attempts=job.attempts(),
                )
                if job.attempts() >= max_attempts:
                    await self._dead_letter(
                        partition,
                        job.msg,
                        job.item,
                        problem_document(
                            500,
                            "Decision failed",
                            f"deciding this event failed {job.attempts()} times "
                            f"({type(exc).__name__}); it was set aside so the partition goes on",
                        ),
                        stop,
                    )
                    jobs.remove(job)
                    continue
                await backoff.sleep(stop)
                continue
            retry: list[_Job] = []
            decided: list[tuple[_Job, dict[str, Any]]] = []
            for job, result in zip(batch, results, strict=True):
                if isinstance(result, LendGuardError):
                    if result.status_code >= 500 or isinstance(result, Conflict):
                        retry.append(job)
                    else:
                        await self._dead_letter(
                            partition, job.msg, job.item, problem_of(result), stop
                        )
                        jobs.remove(job)
                else:
                    decided.append((job, result))
            if decided:
                await self._publish_decisions(partition, decided, stop)
                for job, _ in decided:
                    jobs.remove(job)
            if retry:
                first = next(r for r in results if isinstance(r, LendGuardError))
                self._dependency_down(partition, "database", first, len(retry))
                await backoff.sleep(stop)
                continue
            self._dependency_up(partition, "database")
            backoff.reset()

    def _dependency_down(self, partition: int, name: str, exc: BaseException, events: int) -> None:
        if partition not in self.stats.paused:
            log.warning(
                "stream.paused",
                partition=partition,
                dependency=name,
                error=type(exc).__name__,
                events=events,
            )
        self.stats.paused.add(partition)
        self.stats.checks[name] = f"error: {type(exc).__name__}"

    def _dependency_up(self, partition: int, name: str) -> None:
        if partition in self.stats.paused:
            log.info("stream.resumed", partition=partition)
            self.stats.paused.discard(partition)
        self.stats.checks[name] = "ok"

    async def _until_published(
        self, partition: int, stop: asyncio.Event, publish: Callable[[], Awaitable[object]]
    ) -> None:
        """``publish`` until JetStream acknowledges it (NATS away: pause and retry)."""
        backoff = Backoff()
        while True:
            try:
                await publish()
            except Exception as exc:
                if not is_dependency_failure(exc) and not isinstance(exc, nats.js.errors.Error):
                    raise
                self._dependency_down(partition, "nats", exc, 1)
                if not self._may_go_on(partition, stop):
                    raise _Abandoned from exc
                await backoff.sleep(stop)
                continue
            if partition in self.stats.paused and self.stats.checks["nats"] != "ok":
                self._dependency_up(partition, "nats")
            return

    async def _publish_decisions(
        self, partition: int, decided: list[tuple[_Job, dict[str, Any]]], stop: asyncio.Event
    ) -> None:
        js = self.js
        assert js is not None
        subject = decisions_subject(self.settings.stream_prefix, partition)

        async def publish_all() -> None:
            # Sent together (one connection keeps their order), each acknowledged.
            await asyncio.gather(
                *(
                    js.publish(
                        subject,
                        orjson.dumps(decision, option=orjson.OPT_NON_STR_KEYS),
                        headers={"Nats-Msg-Id": str(decision.get("event_id") or job.event_id)},
                    )
                    for job, decision in decided
                )
            )

        await self._until_published(partition, stop, publish_all)
        for job, _ in decided:
            with contextlib.suppress(Exception):  # unacknowledged: decided again, same answer
                await job.msg.ack()
        self.stats.decided += len(decided)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)

    async def _dead_letter(
        self,
        partition: int,
        msg: Msg,
        item: Any,
        problem: dict[str, Any],
        stop: asyncio.Event,
        keep_raw: bool = True,
    ) -> None:
        """Publish the event (as it came) and its problem to the dead-letter subject, then
        terminate the message: it is never delivered again. An oversized payload is not copied
        (``keep_raw`` false): its stream sequence finds it in the events stream."""
        js = self.js
        assert js is not None
        metadata = msg.metadata
        body: dict[str, Any] = {
            "partition": partition,
            "stream_sequence": metadata.sequence.stream,
            "deliveries": metadata.num_delivered,
            "problem": problem,
        }
        if item is None and keep_raw:
            body["raw"] = msg.data.decode("utf-8", errors="replace")
        elif item is not None:
            body["event"] = item
        event_id = item.get("event_id") if isinstance(item, dict) else None
        subject = deadletter_subject(self.settings.stream_prefix, partition)
        payload = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
        # The id is the event's position in the events stream: one dead letter per message,
        # however often it is dead-lettered again after a crash.
        headers = {"Nats-Msg-Id": f"events-{metadata.sequence.stream}"}
        await self._until_published(
            partition, stop, lambda: js.publish(subject, payload, headers=headers)
        )
        with contextlib.suppress(Exception):
            await msg.term()
        self.stats.dead_lettered += 1
        log.warning(
            "stream.dead_lettered",
            partition=partition,
            event_id=event_id if isinstance(event_id, str) else None,
            status=problem["status"],
            title=problem["title"],
        )

    # -- readiness ----------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """The readiness answer: each dependency checked now (the database by a query on a
        thread, NATS by the connection's state), plus what this worker holds and did."""
        checks = dict(self.stats.checks)
        if self.database_check is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self.database_check), 3.0)
                # Answering a query is not enough while a batch still fails on the database
                # (its error stands until the batch goes through).
                if not self.stats.paused:
                    checks["database"] = "ok"
            except Exception as exc:  # readiness must answer, whatever failed
                checks["database"] = f"error: {type(exc).__name__}"
        nc = self.nc
        if nc is None or not nc.is_connected:
            checks["nats"] = "error: not connected"
        ready = all(value == "ok" for value in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": checks,
            "partitions": self.partitions,
            "paused": bool(self.stats.paused),
            "decided": self.stats.decided,
            "dead_lettered": self.stats.dead_lettered,
            "worker": self.worker_id,
        }
        return ready, body
