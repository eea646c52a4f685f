"""The fault matrix's moving parts: the plan, the workers as real processes (restarted as
systemd would), Redis restarts and flushes, the publisher and the seeded fault schedule.

Everything here drives real things: ``lendguard worker`` processes, the local Redis server,
NATS JetStream and PostgreSQL (through :class:`~chaos.proxy.TcpProxy`).
"""

from __future__ import annotations

import asyncio
import heapq
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis

from lendguard.stream.partitions import events_subject, partition_of

VENV_BIN = Path(sys.executable).parent
DEFAULT_EVENTS = 100_000
DEFAULT_SEED = 17
DEFAULT_WORKERS = 2
# A worker that exits is started again after this long (RestartSec of
# deploy/systemd/lendguard-worker@.service).
RESTART_DELAY_S = 2.0
# The faults the issue asks for, with how long the timed ones last.
FAULT_SECONDS = 10.0
REDIS_LATENCY_S = 1.0


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class ChaosPlan:
    """What one run does. ``LENDGUARD_CHAOS_EVENTS`` runs smaller while developing; CI runs
    the issue's 100,000."""

    events: int
    seed: int
    days: int
    workers: int
    partitions: int
    duplicate_share: float
    publish_span_s: float
    timeout_s: float
    stall_s: float

    @classmethod
    def from_env(cls) -> ChaosPlan:
        return cls(
            events=env_int("LENDGUARD_CHAOS_EVENTS", DEFAULT_EVENTS),
            seed=env_int("LENDGUARD_CHAOS_SEED", DEFAULT_SEED),
            days=30,
            workers=env_int("LENDGUARD_CHAOS_WORKERS", DEFAULT_WORKERS),
            partitions=env_int("LENDGUARD_CHAOS_PARTITIONS", 16),
            duplicate_share=0.01,
            publish_span_s=float(env_int("LENDGUARD_CHAOS_PUBLISH_SPAN_S", 60)),
            timeout_s=float(env_int("LENDGUARD_CHAOS_TIMEOUT_S", 1_800)),
            stall_s=float(env_int("LENDGUARD_CHAOS_STALL_S", 240)),
        )


class RunClock:
    """Seconds since the run started (monotonic), for the record of what happened when."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def now(self) -> float:
        return round(time.monotonic() - self.started, 3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- Redis ----------------------------------------------------------------------------------------


class RedisControl:
    """The local Redis server: shut down and started again the way ``.ci/run`` starts it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379

    def _client(self) -> redis.Redis:
        return redis.Redis(self.host, self.port, socket_connect_timeout=1, socket_timeout=2)

    def up(self) -> bool:
        client = self._client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def flushall(self) -> None:
        subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(self.port), "flushall"],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def shutdown(self) -> None:
        # "nosave": nothing to write, and the server goes at once. redis-cli exits non-zero when
        # the server closes the connection on it, which is what we asked for.
        subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
        )
        for _ in range(50):
            if not self.up():
                return
            time.sleep(0.1)
        raise RuntimeError(f"Redis on port {self.port} did not shut down")

    def start(self) -> None:
        """The start command of ``.ci/run`` (its log file for the CI port, else one per port)."""
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
        logfile = "ci.log" if self.port == 6379 else f"chaos-{self.port}.log"
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                f"/var/log/redis/{logfile}",
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )
        for _ in range(100):
            if self.up():
                return
            time.sleep(0.1)
        raise RuntimeError(f"Redis on port {self.port} did not come back")

    def restart(self) -> None:
        self.shutdown()
        self.start()

    def ensure_up(self) -> None:
        if not self.up():
            self.start()


# An exit nobody caused within this long of a start is the worker refusing to start (a
# dependency unreachable at start-up): the supervisor starts it again, as systemd would, and the
# run records it. One after it is a crash of a running worker, and fails the run.
STARTUP_REFUSAL_S = 20.0


# -- workers --------------------------------------------------------------------------------------


@dataclass
class WorkerSlot:
    """One worker as systemd would run it: a fixed id and health port, restarted on exit."""

    index: int
    worker_id: str
    health_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    started_s: float = 0.0
    # The pid the harness killed on purpose (its exit is expected, not a crash).
    killed_pid: int | None = None


@dataclass
class WorkerExit:
    worker: str
    pid: int
    returncode: int
    at_s: float
    lived_s: float
    expected: bool
    # The last lines that incarnation wrote (why it went, for an exit nobody caused).
    last_lines: list[str] = field(default_factory=list)


class WorkerPool:
    """``lendguard worker`` processes, each restarted ``RESTART_DELAY_S`` after it exits (as
    ``Restart=always`` does); every exit is recorded, with whether the harness caused it."""

    def __init__(self, count: int, env: dict[str, str], log_dir: Path, clock: RunClock) -> None:
        self.env = env
        self.clock = clock
        self.slots = [
            WorkerSlot(i, f"chaos-w{i}", free_port(), log_dir / f"worker-{i}.log")
            for i in range(count)
        ]
        self.exits: list[WorkerExit] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="chaos-supervisor")

    def start(self) -> None:
        with self._lock:
            for slot in self.slots:
                self._spawn(slot)
        self._supervisor.start()

    def _spawn(self, slot: WorkerSlot) -> None:
        command = [
            str(VENV_BIN / "lendguard"),
            "worker",
            "--health-port",
            str(slot.health_port),
            "--worker-id",
            slot.worker_id,
        ]
        with slot.log_path.open("ab") as log:
            log.write(f"--- start {slot.starts + 1} at {self.clock.now()} s ---\n".encode())
            log.flush()
            # In the harness's process group: a Ctrl-C or CI's timeout reaches the workers too,
            # so an interrupted run leaves no worker behind.
            slot.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        slot.starts += 1
        slot.started_s = self.clock.now()

    def kill9(self, index: int) -> int:
        """SIGKILL one worker (no clean-up, no ack, no goodbye); the supervisor restarts it."""
        with self._lock:
            slot = self.slots[index]
            assert slot.process is not None
            pid = slot.process.pid
            slot.killed_pid = pid
            os.kill(pid, signal.SIGKILL)
            return pid

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            for slot in self.slots:
                with self._lock:
                    process = slot.process
                    if process is None or process.poll() is None or self._stopping.is_set():
                        continue
                    self.exits.append(
                        WorkerExit(
                            slot.worker_id,
                            process.pid,
                            int(process.returncode),
                            self.clock.now(),
                            round(self.clock.now() - slot.started_s, 3),
                            expected=process.pid == slot.killed_pid,
                            last_lines=_tail(slot.log_path, 5),
                        )
                    )
                    slot.process = None
                # (Outside the lock: kill9 must not wait for the restart delay.)
                time.sleep(RESTART_DELAY_S)
                with self._lock:
                    if not self._stopping.is_set():
                        self._spawn(slot)

    def alive(self) -> dict[str, bool]:
        return {
            slot.worker_id: slot.process is not None and slot.process.poll() is None
            for slot in self.slots
        }

    def readiness(self) -> dict[str, tuple[int, Any]]:
        """Each worker's ``/readyz``: (HTTP status, body); status 0 when nothing answers."""
        found: dict[str, tuple[int, Any]] = {}
        for slot in self.slots:
            url = f"http://127.0.0.1:{slot.health_port}/readyz"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local)
                    found[slot.worker_id] = (response.status, orjson.loads(response.read()))
            except urllib.error.HTTPError as exc:
                found[slot.worker_id] = (exc.code, _json_or_text(exc.read()))
            except (OSError, ValueError) as exc:
                found[slot.worker_id] = (0, str(exc))
        return found

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM every worker (a clean stop), SIGKILL what is still there after ``grace_s``."""
        self._stopping.set()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=RESTART_DELAY_S + 5)
        with self._lock:
            running = [s.process for s in self.slots if s.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(
            f"== {slot.worker_id} ({slot.log_path}) ==\n" + "\n".join(_tail(slot.log_path, lines))
            for slot in self.slots
        )


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return [line[:500] for line in path.read_text(errors="replace").splitlines()[-lines:]]
    except OSError:
        return ["(no log)"]


def _json_or_text(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")[:500]


# -- publishing -----------------------------------------------------------------------------------


@dataclass
class PublishRecord:
    messages: int = 0
    events: int = 0
    duplicates_same_id: int = 0
    duplicates_new_id: int = 0
    # Same-id republishes JetStream reported as duplicates (its own dedupe at work).
    dropped_by_jetstream: int = 0
    seconds: float = 0.0
    duplicated_event_ids: list[str] = field(default_factory=list)


def plan_messages(
    lines: Sequence[bytes],
    customer_ids: Sequence[str],
    event_ids: Sequence[str],
    partitions: int,
    duplicate_share: float,
    rng: random.Random,
) -> tuple[dict[int, list[tuple[bytes, str]]], list[str]]:
    """Each partition's messages in publish order, as ``(body, Nats-Msg-Id)``.

    Every event is published once with its event id as ``Nats-Msg-Id``. ``duplicate_share`` of
    them (seeded) are published twice more in their partition: once right after, with the same
    id (JetStream's own dedupe drops it), and once some messages later with another id
    (JetStream stores it; only the durable ``event_id`` idempotency can absorb it)."""
    chosen = set(rng.sample(range(len(lines)), round(len(lines) * duplicate_share)))
    queues: dict[int, list[tuple[bytes, str]]] = {}
    # partition -> heap of (due at queue length, order, body, Nats-Msg-Id)
    late: dict[int, list[tuple[int, int, bytes, str]]] = {}
    for index, (line, customer, event_id) in enumerate(
        zip(lines, customer_ids, event_ids, strict=True)
    ):
        partition = partition_of(customer, partitions)
        queue = queues.setdefault(partition, [])
        queue.append((line, event_id))
        if index in chosen:
            queue.append((line, event_id))
            due = len(queue) + rng.randint(0, 200)
            heapq.heappush(late.setdefault(partition, []), (due, index, line, f"{event_id}~again"))
        pending = late.get(partition)
        while pending and pending[0][0] <= len(queue):
            _, _, body, msg_id = heapq.heappop(pending)
            queue.append((body, msg_id))
    for partition, pending in late.items():
        while pending:
            _, _, body, msg_id = heapq.heappop(pending)
            queues[partition].append((body, msg_id))
    return queues, sorted(event_ids[i] for i in chosen)


async def publish(
    nats_url: str,
    prefix: str,
    queues: dict[int, list[tuple[bytes, str]]],
    record: PublishRecord,
    span_s: float = 0.0,
) -> None:
    """Publish each partition's queue in order (one task per partition, each awaiting every
    acknowledgement: a partition's order is the customer's order), all partitions at once.

    With ``span_s``, message *j* of a partition's *n* is not sent before ``span_s * j / n``: a
    small run then lasts long enough for every fault to land while events are still being
    decided (a 100,000-event run takes longer than the span anyway)."""
    import nats

    client = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    js = client.jetstream(timeout=30)
    started = time.monotonic()

    async def one_partition(partition: int, queue: list[tuple[bytes, str]]) -> None:
        subject = events_subject(prefix, partition)
        last_id: str | None = None
        for j, (body, msg_id) in enumerate(queue):
            due = started + span_s * j / len(queue)
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            ack = await js.publish(subject, body, headers={"Nats-Msg-Id": msg_id})
            record.messages += 1
            if ack.duplicate:
                record.dropped_by_jetstream += 1
            if msg_id == last_id:
                record.duplicates_same_id += 1
            elif msg_id.endswith("~again"):
                record.duplicates_new_id += 1
            else:
                record.events += 1
            last_id = msg_id

    try:
        await asyncio.gather(*(one_partition(p, q) for p, q in sorted(queues.items())))
    finally:
        record.seconds = round(time.monotonic() - started, 3)
        await client.close()


# -- the fault schedule ---------------------------------------------------------------------------


@dataclass
class FaultRecord:
    fault: str
    detail: str
    at_progress: float
    started_s: float
    ended_s: float = 0.0
    decided_before: int = 0
    decided_after: int = 0


@dataclass
class ScheduledFault:
    fault: str
    at_progress: float
    apply: Callable[[], str]


class FaultDriver:
    """Starts each fault, on a thread of its own, once the decided count reaches its (seeded)
    point of the run; faults may overlap, as real ones do. The record says when, and at what
    progress, each one ran."""

    def __init__(
        self,
        schedule: list[ScheduledFault],
        total: int,
        decided: Callable[[], int],
        clock: RunClock,
    ) -> None:
        self.schedule = sorted(schedule, key=lambda s: s.at_progress)
        self.total = total
        self.decided = decided
        self.clock = clock
        self.applied: list[FaultRecord] = []
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._faults: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, name="chaos-faults")

    def start(self) -> None:
        self._thread.start()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive() and not any(t.is_alive() for t in self._faults)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        for thread in self._faults:
            thread.join(timeout=60)

    def _run(self) -> None:
        pending = list(self.schedule)
        try:
            while pending and not self._stop.is_set():
                count = self.decided()
                while pending and count >= int(pending[0].at_progress * self.total):
                    item = pending.pop(0)
                    thread = threading.Thread(
                        target=self._apply, args=(item, count), name=f"chaos-{item.fault}"
                    )
                    self._faults.append(thread)
                    thread.start()
                self._stop.wait(0.25)
        except BaseException as exc:  # reported by the test, which owns the failure
            self.error = exc

    def _apply(self, item: ScheduledFault, count: int) -> None:
        record = FaultRecord(
            item.fault, "", item.at_progress, self.clock.now(), decided_before=count
        )
        try:
            record.detail = item.apply()
            record.ended_s = self.clock.now()
            record.decided_after = self.decided()
        except BaseException as exc:
            self.error = exc
            return
        with self._lock:
            self.applied.append(record)
            self.applied.sort(key=lambda r: r.started_s)


def seeded_schedule(
    rng: random.Random,
    workers: WorkerPool,
    redis_control: RedisControl,
    postgres_proxy: Any,
    redis_proxy: Any,
) -> list[ScheduledFault]:
    """The issue's faults at seeded points between 5% and 75% of the run: three kill -9 of a
    random worker, one Redis restart, one FLUSHALL, PostgreSQL unreachable for 10 s and 1 s of
    latency to Redis for 10 s."""
    from chaos.proxy import Mode

    def kill(index: int) -> Callable[[], str]:
        def apply() -> str:
            pid = workers.kill9(index)
            return f"SIGKILL {workers.slots[index].worker_id} (pid {pid})"

        return apply

    # The server's own faults take turns (a FLUSHALL sent while it is down would be lost);
    # the proxy's latency may overlap them.
    redis_server = threading.Lock()

    def restart_redis() -> str:
        with redis_server:
            redis_control.shutdown()
            time.sleep(2.0)  # down long enough for the workers to notice
            redis_control.start()
        return f"redis-cli -p {redis_control.port} shutdown nosave; down 2 s; started again"

    def flushall() -> str:
        with redis_server:
            redis_control.flushall()
        return f"redis-cli -p {redis_control.port} flushall"

    def postgres_unreachable() -> str:
        with postgres_proxy.fault(Mode.UNREACHABLE):
            time.sleep(FAULT_SECONDS)
        return f"PostgreSQL proxy unreachable for {FAULT_SECONDS:.0f} s (connections reset)"

    def redis_latency() -> str:
        with redis_proxy.fault(Mode.LATENCY, latency_s=REDIS_LATENCY_S):
            time.sleep(FAULT_SECONDS)
        return f"Redis proxy +{REDIS_LATENCY_S:.0f} s per chunk each way for {FAULT_SECONDS:.0f} s"

    faults: list[tuple[str, Callable[[], str]]] = [
        *(("kill -9 worker", kill(rng.randrange(len(workers.slots)))) for _ in range(3)),
        ("restart Redis", restart_redis),
        ("Redis FLUSHALL", flushall),
        ("PostgreSQL unreachable 10 s", postgres_unreachable),
        ("Redis latency 1 s for 10 s", redis_latency),
    ]
    rng.shuffle(faults)
    points = sorted(round(rng.uniform(0.05, 0.75), 3) for _ in faults)
    return [
        ScheduledFault(name, at, apply) for (name, apply), at in zip(faults, points, strict=True)
    ]
