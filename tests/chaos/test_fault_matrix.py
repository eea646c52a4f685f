"""The fault matrix (issue #17): the simulator's month through JetStream and two real workers
while workers are killed, Redis restarts and is flushed, PostgreSQL goes away and Redis slows
down; then nothing lost, nothing decided twice, and every decision and the final window state
equal to a single-process, in-memory replay of the durable log.

Run by ``make chaos`` (not ``make test``). ``LENDGUARD_CHAOS_EVENTS`` runs fewer events while
developing; the run's figures go to ``var/chaos/`` and to stdout.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from chaos.checks import compare, read_snapshot, read_stream_decisions, replay_log, summary
from chaos.harness import (
    STARTUP_REFUSAL_S,
    ChaosPlan,
    FaultDriver,
    PublishRecord,
    RedisControl,
    RunClock,
    WorkerPool,
    plan_messages,
    publish,
    seeded_schedule,
)
from chaos.proxy import TcpProxy
from lendguard.auth.secret_settings import generate_secrets
from lendguard.config import Settings
from lendguard.simulate.benchmark import build_workload
from lendguard.stream.partitions import leases_bucket, stream_name
from lendguard.stream.streams import delete_streams, ensure_streams

RECORDS = Path(__file__).resolve().parents[2] / "var" / "chaos"
PROGRESS_EVERY_S = 15.0


def test_fault_matrix(
    chaos_nats_url: str, chaos_redis_url: str, chaos_database: str, tmp_path: Path
) -> None:
    # (The services are checked before the database is created: nothing to drop on a skip.)
    plan = ChaosPlan.from_env()
    rng = random.Random(plan.seed)
    prefix = f"chaos{secrets.token_hex(4)}"
    pii_key = f"chaos-pii-key-{secrets.token_hex(16)}"
    record: dict[str, Any] = {"plan": plan.__dict__, "stream_prefix": prefix}
    test_started = time.monotonic()

    # The simulator's month, as JSONL, published in order with 1% duplicates.
    workload = build_workload(n_events=plan.events, seed=plan.seed, days=plan.days)
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in workload.dicts))
    lines = jsonl.read_bytes().splitlines()
    event_ids = [str(d["event_id"]) for d in workload.dicts]
    customers = [str(d["customer_id"]) for d in workload.dicts]
    queues, duplicated = plan_messages(
        lines, customers, event_ids, plan.partitions, plan.duplicate_share, rng
    )

    redis_control = RedisControl(chaos_redis_url)
    redis_control.ensure_up()
    database = make_url(chaos_database)
    postgres_proxy = TcpProxy(
        database.host or "127.0.0.1", database.port or 5432, name="chaos-postgres"
    ).start()
    redis_proxy = TcpProxy(redis_control.host, redis_control.port, name="chaos-redis").start()
    settings = Settings(
        database_url=chaos_database,
        stream_prefix=prefix,
        stream_partitions=plan.partitions,
        worker_ack_wait_s=10.0,
    )
    asyncio.run(_create_streams(chaos_nats_url, settings))

    env = {k: v for k, v in os.environ.items() if not k.startswith("LENDGUARD_")}
    env.update(generate_secrets())
    env.update(
        LENDGUARD_DATABASE_URL=database.set(
            host="127.0.0.1", port=postgres_proxy.port
        ).render_as_string(hide_password=False),
        LENDGUARD_REDIS_URL=f"redis://127.0.0.1:{redis_proxy.port}/0",
        LENDGUARD_NATS_URL=chaos_nats_url,
        LENDGUARD_STATE_BACKEND="shared",
        LENDGUARD_STREAM_PREFIX=prefix,
        LENDGUARD_STREAM_PARTITIONS=str(plan.partitions),
        LENDGUARD_WORKER_ACK_WAIT_S=str(settings.worker_ack_wait_s),
        LENDGUARD_PII_KEY=pii_key,
        LENDGUARD_LOG_LEVEL="INFO",
    )
    direct = create_engine(chaos_database, pool_size=2)

    def decided() -> int:
        with direct.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM decisions")).scalar_one())

    clock = RunClock()
    # The workers' logs stay with the run's record (CI's log scan reads them for PII too).
    log_dir = RECORDS / f"run-{prefix}"
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = WorkerPool(plan.workers, env, log_dir, clock)
    driver = FaultDriver(
        seeded_schedule(rng, workers, redis_control, postgres_proxy, redis_proxy),
        plan.events,
        decided,
        clock,
    )
    published = PublishRecord(duplicated_event_ids=duplicated)
    problems: list[str] = []
    ready: dict[str, Any] = {}
    alive: dict[str, bool] = {}
    try:
        workers.start()
        driver.start()
        publisher = _Publisher(chaos_nats_url, prefix, queues, published, plan.publish_span_s)
        wall_s, missing = _wait_for_decisions(plan, decided, driver, workers, clock)
        problems += publisher.join()
        record["decided_after_s"] = wall_s
        if missing:
            problems.append(missing)
        else:
            problems += _wait_for(lambda: driver.finished, 120, "the fault schedule to finish")
            problems += _wait_for(
                lambda: asyncio.run(_stream_messages(chaos_nats_url, prefix)) >= plan.events,
                120,
                "a decision message for every event",
            )
        ready = _wait_until_ready(workers)
        alive = workers.alive()
    finally:
        driver.stop()
        workers.stop()
        postgres_proxy.stop()
        redis_proxy.stop()
        redis_control.ensure_up()
        direct.dispose()
        try:
            stream = read_stream_decisions(chaos_nats_url, prefix)
        finally:
            asyncio.run(_delete_streams(chaos_nats_url, prefix))

    snapshot = read_snapshot(chaos_database)
    replay = replay_log(snapshot.log, pii_key, tmp_path)
    findings = compare(event_ids, snapshot, stream, replay)

    record.update(
        events=plan.events,
        published=published.__dict__ | {"duplicated_event_ids": len(duplicated)},
        events_per_s=round(plan.events / record["decided_after_s"], 1),
        faults=[f.__dict__ for f in driver.applied],
        faults_scheduled=len(driver.schedule),
        worker_starts={s.worker_id: s.starts for s in workers.slots},
        worker_exits=[e.__dict__ for e in workers.exits],
        worker_start_refusals=sum(
            1 for e in workers.exits if not e.expected and e.lived_s < STARTUP_REFUSAL_S
        ),
        worker_logs=str(log_dir),
        readiness={k: v[0] for k, v in ready.items()},
        alive_at_end=alive,
        replay_s=replay.seconds,
        proxies={p.name: p.stats.__dict__ for p in (postgres_proxy, redis_proxy)},
        checks=findings.figures(),
        test_s=round(time.monotonic() - test_started, 1),
    )

    if driver.error is not None:
        problems.append(f"the fault driver failed: {driver.error!r}")
    if len(driver.applied) != len(driver.schedule):
        problems.append(f"only {len(driver.applied)} of {len(driver.schedule)} faults ran")
    late = [f.fault for f in driver.applied if f.decided_before >= plan.events]
    if late:
        problems.append(f"faults that ran after every event was decided (so untested): {late}")
    if findings.lost_or_doubled:
        problems.append(
            f"(a)/(b) lost or doubled: {len(findings.lost_decisions)} events without a decision, "
            f"{len(findings.lost_events)} not in the log, {len(findings.decisions_twice)} with "
            f"more than one decision row, {len(findings.events_twice)} logged twice"
        )
    if findings.stream_wrong:
        problems.append(
            f"(b) decisions stream: {len(findings.missing_on_stream)} events without a message, "
            f"{len(findings.stream_conflicts)} whose messages disagree with the decision row"
        )
    if findings.replay_differs:
        problems.append(
            f"(c) differs from the one-process replay: {len(findings.mismatches)} decisions, "
            f"{len(findings.states_differ)} window states differ, "
            f"{len(findings.states_only_shared)}/{len(findings.states_only_replay)} states only "
            f"in the shared store/replay, {len(findings.body_hash_differs)} bodies hashed "
            f"differently, {len(findings.replay_refused)} refused by the replay"
        )
    unexpected = [e for e in workers.exits if not e.expected]
    crashed = [e.__dict__ for e in unexpected if e.lived_s >= STARTUP_REFUSAL_S]
    refused = [e for e in unexpected if e.lived_s < STARTUP_REFUSAL_S]
    not_ready = {k: v for k, v in ready.items() if v[0] != 200}
    if crashed or not_ready or not all(alive.values()):
        problems.append(
            f"(d) workers: crashed while running {crashed}, alive at the end {alive}, "
            f"not ready {not_ready}"
        )
    if refused:
        reasons = Counter(e.last_lines[-1] if e.last_lines else "?" for e in refused)
        say(
            f"chaos: note: {len(refused)} worker start(s) refused and were started again (as "
            f"systemd would): {dict(reasons)}"
        )
    record["problems"] = problems
    _write_record(record)
    if problems:
        pytest.fail(
            "\n".join(problems)
            + "\n"
            + summary(findings, snapshot.states, replay.states)
            + "\n"
            + workers.log_tails(15),
            pytrace=False,
        )


class _Publisher:
    """Publishes on a thread of its own while the main thread watches the decisions."""

    def __init__(self, *args: Any) -> None:
        self.error: BaseException | None = None
        self.record: PublishRecord = args[3]
        self._thread = threading.Thread(target=self._run, args=args, name="chaos-publisher")
        self._thread.start()

    def _run(self, *args: Any) -> None:
        try:
            asyncio.run(publish(*args))
            say(
                f"chaos: published {self.record.messages} messages ({self.record.events} events)"
                f" in {self.record.seconds} s"
            )
        except BaseException as exc:  # reported by the test
            self.error = exc

    def join(self) -> list[str]:
        self._thread.join(timeout=120)
        if self.error is not None:
            return [f"publishing failed: {self.error!r}"]
        if self._thread.is_alive():
            return ["publishing had not finished when every event was decided"]
        return []


def say(message: str) -> None:
    """Progress and figures on stdout (``make chaos`` runs pytest with -s, CI keeps the log)."""
    print(message, flush=True)  # noqa: T201 - the run's progress and figures, read with pytest -s


def _wait_for_decisions(
    plan: ChaosPlan, decided: Any, driver: FaultDriver, workers: WorkerPool, clock: RunClock
) -> tuple[float, str | None]:
    """Poll the decision count until every event has one. Returns the seconds it took, and
    what is missing when the run stalled or ran out of time (the checks still run then)."""
    last_count, last_change = -1, time.monotonic()
    last_print = 0.0
    deadline = time.monotonic() + plan.timeout_s
    while True:
        count = decided()
        now = time.monotonic()
        if count >= plan.events:
            return clock.now(), None
        if count != last_count:
            last_count, last_change = count, now
        stalled = now - last_change > plan.stall_s
        if stalled or now > deadline or driver.error is not None:
            why = (
                f"the fault driver failed: {driver.error!r}"
                if driver.error is not None
                else f"no progress for {plan.stall_s:.0f} s"
                if stalled
                else "the time limit"
            )
            return clock.now(), (
                f"(a) {plan.events - count} of {plan.events} events still have no decision "
                f"after {clock.now():.0f} s ({why})"
            )
        if now - last_print >= PROGRESS_EVERY_S:
            last_print = now
            faults = ", ".join(f"{f.fault}@{f.started_s:.0f}s" for f in driver.applied)
            say(f"chaos: {clock.now():7.1f} s  decided {count}/{plan.events}  faults: {faults}")
        time.sleep(0.5)


def _wait_for(condition: Any, timeout_s: float, what: str) -> list[str]:
    """[] once ``condition()`` holds, or the problem after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return [f"timed out after {timeout_s:.0f} s waiting for {what}"]
        time.sleep(0.5)
    return []


def _wait_until_ready(workers: WorkerPool, timeout_s: float = 90.0) -> dict[str, Any]:
    """Each worker's /readyz, once all say ready or when ``timeout_s`` has passed (a worker
    restarted last may still be rebuilding its graph from the log)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = workers.readiness()
        if all(status == 200 for status, _ in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


async def _create_streams(nats_url: str, settings: Settings) -> None:
    import nats

    client = await nats.connect(nats_url)
    try:
        await ensure_streams(client.jetstream(), settings)
    finally:
        await client.close()


async def _stream_messages(nats_url: str, prefix: str) -> int:
    import nats

    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info(stream_name(prefix, "decisions"))
        return int(info.state.messages)
    finally:
        await client.close()


async def _delete_streams(nats_url: str, prefix: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await delete_streams(js, prefix)
        try:
            await js.delete_key_value(leases_bucket(prefix))
        except NotFoundError:
            pass
    finally:
        await client.close()


def _write_record(record: dict[str, Any]) -> None:
    RECORDS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RECORDS / f"fault-matrix-{stamp}.json"
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    say(f"\nchaos: run record {path}\n{orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()}")
