"""Scale-out throughput (issue #17): events through NATS JetStream and real ``lendguard worker``
processes deciding on shared PostgreSQL state, against the single-process path on the same events.

    .venv/bin/python bench/stream_throughput.py [--events 20000] [--paced-rates 100,half]
        [--paced-seconds 10] [--paced-events 3000] [--workers 1,2] [--partitions 16]
        [--seed 7] [--no-state-cost] [--state-cost-events 2000] [--out FILE]

Needs PostgreSQL (``LENDGUARD_BENCH_DATABASE_URL``: a database on the server; every run creates
a fresh database beside it and drops it afterwards) and a ``nats-server`` binary (a private
JetStream server on a free port and a temporary store, so its CPU is this run's alone, with
``sync_interval: always`` when the server knows it (2.10+); or ``LENDGUARD_BENCH_NATS_URL`` to
use a running server). Without them it says why and returns
``{"skipped": reason}``.

What one run measures, all on the same workload (:func:`build_workload`, seed 7):

1. ``reference``: :meth:`DecisionService.decide` per event in one process, SQLite, in-memory
   window state (the ``in_process`` block of ``lendguard bench``), on every event (the
   decisions the stream runs are compared with), and again on the burst's events right before
   each stream run (``reference_just_before``: the ratio's denominator, measured under the
   machine's load of that moment).
2. ``stream``, for 1 and for 2 workers, each on a fresh database (``LENDGUARD_STATE_BACKEND=
   shared``) and fresh streams (a prefix of its own), with real ``lendguard worker`` processes:

   - ``burst``: all ``--events`` events published at once (JetStream async publish, the event
     id as ``Nats-Msg-Id``, the subject of the customer's partition); throughput is the number
     of events over the time from the first publish to the last decision received on
     ``<prefix>.decisions.*``. Its latencies are mostly queueing behind the backlog.
   - ``paced``: then, for each of ``--paced-rates`` (events/s; ``half``: half the burst
     throughput), the next events one by one on a fixed schedule for ``--paced-seconds`` (at
     most ``--paced-events`` events): p50/p99 of publish → decision received, the latency a
     lender sees below saturation.
   - the cost of an event: CPU of the workers, of this database's PostgreSQL backends and of
     the private NATS server (``/proc``); PostgreSQL transactions and rows
     (``pg_stat_database``); SQL statements, ``executemany`` calls and commits issued by the
     workers (SQLAlchemy hooks loaded into each worker by a ``sitecustomize`` module);
   - a check: every event has exactly one decision row, and how many differ from the
     reference in action or score (events of different customers sharing a device, IP or
     payee may be decided in another order across partitions than in the reference); and
     ``identical_to_engine_only``: the stored decisions against engine only on the same events
     (action, score, reason codes), the differing ones split by whether their customer's events
     were decided out of order (never, so far: a customer's events share a partition), which
     ``bench/run_all.py`` adds to its identical-decisions check.

3. ``state_cost``: statements, commits, CPU and bytes per decision on the shared store, in
   process on PostgreSQL (the same decision code as the workers'), on the first
   ``--state-cost-events`` events: one event per ``decide`` call, ``decide_async`` with 8 in
   flight (an API process), ``decide_many`` of 100 (a worker's batch); with the default rule
   set and with one that reads every window of every entity; and, one event per call, by the
   number of state keys an event touches.

Prints a summary on stderr and the JSON on stdout; ``bench/run_all.py`` keeps the result under
``stream_throughput`` (``--no-stream`` skips it). docs/benchmarks.md has the figures of record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lendguard.db import normalise_url, upgrade
from lendguard.events.schemas import Event
from lendguard.simulate.benchmark import (
    BENCH_DATABASE_ENV,
    DEFAULT_SEED,
    DecisionKey,
    _child_env,
    _cpu_seconds,
    _figures,
    _free_port,
    bench_in_process,
    build_workload,
    compare_decisions,
    decided_order_check,
    decided_out_of_order,
    engine_only_decisions,
    machine_info,
    source_info,
    stored_decision_rows,
)
from lendguard.stream.partitions import events_subject, partition_of, stream_name

NATS_ENV = "LENDGUARD_BENCH_NATS_URL"
DEFAULT_EVENTS = 20_000
DEFAULT_PACED_EVENTS = 3_000
DEFAULT_PACED_RATES: tuple[float | None, ...] = (100.0, None)  # None: half the burst's rate
DEFAULT_PACED_SECONDS = 10.0
DEFAULT_WORKERS = (1, 2)
DEFAULT_PARTITIONS = 16
# How long a run may wait for its decisions before it gives up and reports what it got.
MIN_WAIT_S = 120.0
READY_TIMEOUT_S = 90.0
PG_STATS_DELAY_S = 11.0
Log = Callable[[str], None]

# Loaded into every worker process (PYTHONPATH) when LENDGUARD_BENCH_SQL_COUNTS names a file:
# counts the SQL the process sends through SQLAlchemy and rewrites the file twice a second (a
# worker stopped by a signal still leaves its last counts).
_SITECUSTOMIZE = """
import os
_path = os.environ.get("LENDGUARD_BENCH_SQL_COUNTS")
if _path:
    import atexit, json, threading
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _counts = {"statements": 0, "executemany": 0, "parameter_sets": 0, "commits": 0,
               "rollbacks": 0}
    _lock = threading.Lock()

    def _execute(conn, cursor, statement, parameters, context, executemany):
        with _lock:
            _counts["statements"] += 1
            if executemany:
                _counts["executemany"] += 1
                _counts["parameter_sets"] += len(parameters) if parameters else 0
            else:
                _counts["parameter_sets"] += 1

    def _commit(conn):
        with _lock:
            _counts["commits"] += 1

    def _rollback(conn):
        with _lock:
            _counts["rollbacks"] += 1

    event.listen(Engine, "before_cursor_execute", _execute)
    event.listen(Engine, "commit", _commit)
    event.listen(Engine, "rollback", _rollback)

    def _dump():
        with _lock:
            data = json.dumps(_counts)
        tmp = _path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(data)
        os.replace(tmp, _path)

    def _loop():
        import time
        while True:
            time.sleep(0.5)
            _dump()

    threading.Thread(target=_loop, name="bench-sql-counts", daemon=True).start()
    atexit.register(_dump)
"""


# =============================================================================================
# Services: a fresh database, a private NATS server
# =============================================================================================


def _reachable_postgres(url: str) -> str | None:
    from lendguard.db import unreachable_reason

    return unreachable_reason(url)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``; dropped (forcibly) afterwards."""
    base = make_url(normalise_url(server_url))
    name = f"lg_bench_stream_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _nats_binary() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


@dataclass
class NatsServer:
    url: str
    pid: int | None
    version: str | None
    sync_interval: str


@contextmanager
def private_nats(workdir: Path) -> Iterator[NatsServer]:
    """A JetStream server of our own on a free port, with file storage in ``workdir``.

    Asks for ``sync_interval: always`` (fsync before each acknowledgement, the setting
    deploy/nats-server.conf uses); a server too old to know it (2.9) runs with its default.
    """
    binary = _nats_binary()
    if binary is None:
        raise FileNotFoundError("no nats-server binary on PATH or at /usr/sbin/nats-server")
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    port = _free_port()
    store = workdir / "jetstream"
    store.mkdir()
    proc: subprocess.Popen[bytes] | None = None
    sync = "always"
    for with_sync in (True, False):
        conf = workdir / "nats.conf"
        jetstream = f'store_dir: "{store}"' + (", sync_interval: always" if with_sync else "")
        conf.write_text(f"listen: 127.0.0.1:{port}\njetstream {{ {jetstream} }}\n")
        check = subprocess.run(
            [binary, "-c", str(conf), "-t"], capture_output=True, text=True, timeout=10
        )
        if check.returncode == 0:
            sync = "always" if with_sync else "server default (no sync_interval in this version)"
            log = open(workdir / "nats.log", "wb")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
            break
    if proc is None:
        raise RuntimeError("nats-server refused both configurations")
    try:
        _wait_for_port(port, 15.0)
        yield NatsServer(f"nats://127.0.0.1:{port}", proc.pid, version, sync)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_port(port: int, timeout_s: float) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.1)


# =============================================================================================
# Cost probes: /proc CPU, pg_stat_database, the workers' SQL counts
# =============================================================================================


def _database_name(url: str) -> str:
    return str(make_url(normalise_url(url)).database)


def pg_counters(admin_url: str, database: str) -> dict[str, Any]:
    """This database's transaction and row counters, and the pids of its backends now."""
    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # The statistics collector reports with a delay: ask for a fresh snapshot.
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(
                text(
                    "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, "
                    "tup_inserted, tup_updated, tup_deleted, blks_hit, blks_read "
                    "FROM pg_stat_database WHERE datname = :name"
                ),
                {"name": database},
            ).one()
            pids = [
                int(p)
                for p in conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                    {"name": database},
                ).scalars()
            ]
    finally:
        engine.dispose()
    return {**row._asdict(), "pids": pids}


def _cpu_of(pids: Sequence[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        value = _cpu_seconds(pid)
        if value is not None:
            out[pid] = value
    return out


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two samples by processes alive at the second (a process
    first seen at the second sample counts from zero: it started in between)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


# =============================================================================================
# Workers
# =============================================================================================


@dataclass
class Workers:
    procs: list[subprocess.Popen[bytes]]
    health_ports: list[int]
    logs: list[Path]
    counts: list[Path]
    partitions_held: list[int] = field(default_factory=list)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def log_tails(self, chars: int = 1_500) -> list[str]:
        out = []
        for path in self.logs:
            try:
                out.append(path.read_text(errors="replace")[-chars:])
            except OSError:
                out.append("")
        return out

    def sql_counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for path in self.counts:
            with suppress(OSError, ValueError):
                total.update(orjson.loads(path.read_bytes()))
        return dict(total)


def _lendguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "lendguard.cli.main", *args]


def init_streams(env: dict[str, str], workdir: Path) -> None:
    """``lendguard worker --init-streams``: the deployment step that creates the streams and
    every partition's consumer, then exits."""
    done = subprocess.run(
        _lendguard("worker", "--init-streams"),
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"lendguard worker --init-streams exited {done.returncode}: "
            f"{(done.stderr or done.stdout)[-1_500:]}"
        )


def _readiness(port: int) -> tuple[int, dict[str, Any]]:
    """A worker's ``/readyz``: the status and its body (0 and {} when it does not answer)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2.0) as reply:
            return int(reply.status), orjson.loads(reply.read())
    except urllib.error.HTTPError as exc:
        with suppress(ValueError):
            return int(exc.code), orjson.loads(exc.read())
        return int(exc.code), {}
    except (OSError, ValueError):
        return 0, {}


@contextmanager
def running_workers(
    count: int, env: dict[str, str], workdir: Path, partitions: int
) -> Iterator[Workers]:
    """``count`` ``lendguard worker`` processes, started one after the other, each ready
    before the next, and yielded once the partitions are shared out: every one held, no worker
    holding more than its fair share (``ceil(partitions / count)``)."""
    hooks = workdir / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    workers = Workers([], [], [], [])
    try:
        for n in range(count):
            port = _free_port()
            log_path = workdir / f"worker-{n}.log"
            counts_path = workdir / f"worker-{n}.sql.json"
            child_env = dict(env)
            child_env["PYTHONPATH"] = os.pathsep.join(
                [str(hooks), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
            )
            child_env["LENDGUARD_BENCH_SQL_COUNTS"] = str(counts_path)
            log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
            workers.procs.append(
                subprocess.Popen(
                    _lendguard("worker", "--health-port", str(port)),
                    env=child_env,
                    cwd=workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            workers.health_ports.append(port)
            workers.logs.append(log_path)
            workers.counts.append(counts_path)
            proc = workers.procs[-1]
            deadline = time.monotonic() + READY_TIMEOUT_S
            while _readiness(port)[0] != 200:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"a worker exited with {proc.returncode} before it was ready: "
                        f"{log_path.read_text(errors='replace')[-1_500:]}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"a worker was not ready within {READY_TIMEOUT_S:.0f} s: "
                        f"{log_path.read_text(errors='replace')[-1_500:]}"
                    )
                time.sleep(0.2)
        fair_share = -(-partitions // count)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            held = [_readiness(port)[1].get("partitions", []) for port in workers.health_ports]
            every = sorted(p for owned in held for p in owned)
            if every == list(range(partitions)) and all(len(o) <= fair_share for o in held):
                workers.partitions_held = [len(o) for o in held]
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"partitions not shared out within {READY_TIMEOUT_S:.0f} s: {held}"
                )
            time.sleep(0.25)
        yield workers
    finally:
        for proc in workers.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# =============================================================================================
# Publishing and collecting decisions
# =============================================================================================


@dataclass
class Collected:
    received_ns: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    duplicates: int = 0


async def _publish_and_collect(
    nats_url: str,
    prefix: str,
    partitions: int,
    dicts: Sequence[dict[str, Any]],
    rate_per_s: float | None,
    wait_s: float,
) -> tuple[list[int], Collected, float]:
    """Publish these events (all at once, or on a fixed schedule at ``rate_per_s``) and wait
    for their decisions; returns the publish times, what arrived, and the publishing time."""
    import nats

    bodies = [orjson.dumps(d) for d in dicts]
    ids = [str(d["event_id"]) for d in dicts]
    subjects = [
        events_subject(prefix, partition_of(str(d["customer_id"]), partitions)) for d in dicts
    ]
    wanted = set(ids)
    collected = Collected()
    all_in = asyncio.Event()
    clock = time.perf_counter_ns

    async def on_decision(msg: Any) -> None:
        now = clock()
        event_id = (msg.headers or {}).get("Nats-Msg-Id")
        if event_id is None:
            event_id = str(orjson.loads(msg.data).get("event_id"))
        if event_id not in wanted:
            return
        if event_id in collected.received_ns:
            collected.duplicates += 1
            return
        collected.received_ns[event_id] = now
        collected.bodies[event_id] = msg.data
        if len(collected.received_ns) == len(wanted):
            all_in.set()

    nc = await nats.connect(nats_url, max_reconnect_attempts=3)
    try:
        sub = await nc.subscribe(f"{prefix}.decisions.*", cb=on_decision, pending_msgs_limit=-1)
        await nc.flush()
        js = nc.jetstream(publish_async_max_pending=4_000)
        published = [0] * len(dicts)
        t_start = clock()
        if rate_per_s is None:
            for i, body in enumerate(bodies):
                published[i] = clock()
                await js.publish_async(subjects[i], body, headers={"Nats-Msg-Id": ids[i]})
            await asyncio.wait_for(js.publish_async_completed(), timeout=wait_s)
        else:
            interval_ns = int(1e9 / rate_per_s)
            for i, body in enumerate(bodies):
                due = t_start + i * interval_ns
                delay = (due - clock()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                published[i] = clock()
                await js.publish_async(subjects[i], body, headers={"Nats-Msg-Id": ids[i]})
            await asyncio.wait_for(js.publish_async_completed(), timeout=wait_s)
        publish_s = (clock() - t_start) / 1e9
        with suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), timeout=wait_s)
        await sub.unsubscribe()
    finally:
        await nc.drain()
    return published, collected, publish_s


async def _delete_streams(nats_url: str, prefix: str) -> None:
    import nats

    nc = await nats.connect(nats_url, max_reconnect_attempts=3)
    try:
        js = nc.jetstream()
        for kind in ("events", "decisions", "deadletter"):
            with suppress(Exception):
                await js.delete_stream(stream_name(prefix, kind))
        with suppress(Exception):
            await js.delete_key_value(f"{prefix}_leases")
    finally:
        await nc.close()


def _phase(
    dicts: Sequence[dict[str, Any]],
    published: list[int],
    collected: Collected,
    publish_s: float,
) -> dict[str, Any]:
    latencies = []
    missing = 0
    last = 0
    for d, t_pub in zip(dicts, published, strict=True):
        got = collected.received_ns.get(str(d["event_id"]))
        if got is None:
            missing += 1
            continue
        latencies.append(got - t_pub)
        last = max(last, got)
    wall_s = (last - published[0]) / 1e9 if latencies else 0.0
    out = _figures(latencies, wall_s)
    out["published"] = len(dicts)
    out["publish_s"] = round(publish_s, 3)
    out["missing_decisions"] = missing
    out["duplicate_decisions_received"] = collected.duplicates
    return out


# =============================================================================================
# One scale-out run: fresh database and streams, N workers, burst then paced
# =============================================================================================


def _decisions_of(url: str) -> dict[str, tuple[str, int]]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT event_id, action, score FROM decisions")).all()
    finally:
        engine.dispose()
    return {str(r[0]): (str(r[1]), int(r[2])) for r in rows}


def _compare(
    stream: dict[str, tuple[str, int]], reference: dict[str, tuple[str, int]], ids: Sequence[str]
) -> dict[str, Any]:
    action_diff = score_diff = 0
    examples: list[dict[str, Any]] = []
    for event_id in ids:
        mine, ref = stream.get(event_id), reference.get(event_id)
        if mine is None or ref is None:
            continue
        if mine[0] != ref[0]:
            action_diff += 1
            if len(examples) < 5:
                examples.append({"event_id": event_id, "stream": mine, "reference": ref})
        elif mine[1] != ref[1]:
            score_diff += 1
    return {
        "decision_rows": len(stream),
        "events": len(ids),
        "every_event_decided_once": len(stream) == len(ids)
        and all(event_id in stream for event_id in ids),
        "action_differs_from_reference": action_diff,
        "score_differs_from_reference": score_diff,
        "examples": examples,
    }


def scale_out_run(
    workers: int,
    dicts: Sequence[dict[str, Any]],
    burst_events: int,
    reference: dict[str, tuple[str, int]],
    server_url: str,
    nats: NatsServer,
    partitions: int,
    log: Log,
    paced_rates: Sequence[float | None] = DEFAULT_PACED_RATES,
    paced_seconds: float = DEFAULT_PACED_SECONDS,
    paced_events: int = DEFAULT_PACED_EVENTS,
    engine_reference: dict[str, DecisionKey] | None = None,
    validated: Sequence[Event] | None = None,
) -> dict[str, Any]:
    """One fresh deployment with ``workers`` workers: a burst, then one paced phase per rate
    (None: half the burst's throughput), each on the next events of the workload.

    With ``engine_reference`` (the engine-only decisions of the same events), the stored
    decisions are also compared with it on action, score and reason codes
    (``identical_to_engine_only``), the differing ones split by whether their customer's events
    were decided out of order (:func:`decided_out_of_order`); with ``validated`` (the same
    events, parsed), also with the engine fed them in the order the workers logged them
    (:func:`decided_order_check`: 0 expected)."""
    prefix = f"lgb{secrets.token_hex(3)}"
    burst = list(dicts[:burst_events])
    remaining = list(dicts[burst_events:])
    with fresh_database(server_url) as url, tempfile.TemporaryDirectory(prefix="lg-stream-") as tmp:
        workdir = Path(tmp)
        upgrade(url)
        env = _child_env(
            {
                "LENDGUARD_DATABASE_URL": url,
                "LENDGUARD_STATE_BACKEND": "shared",
                "LENDGUARD_NATS_URL": nats.url,
                "LENDGUARD_STREAM_PREFIX": prefix,
                "LENDGUARD_STREAM_PARTITIONS": str(partitions),
                "LENDGUARD_LOG_LEVEL": "WARNING",
            }
        )
        database = _database_name(url)
        try:
            init_streams(env, workdir)
            log(f"  {workers} worker(s): starting")
            with running_workers(workers, env, workdir, partitions) as running:
                partitions_held = running.partitions_held
                before_pg = pg_counters(server_url, database)
                sql_before = running.sql_counts()
                cpu_before = {
                    "workers": _cpu_of(running.pids()),
                    "postgres": _cpu_of(before_pg["pids"]),
                    "nats": _cpu_of([nats.pid] if nats.pid else []),
                }
                wait_s = max(MIN_WAIT_S, len(burst) / 50.0)
                log(f"  {workers} worker(s): burst of {len(burst):,} events")
                published, collected, publish_s = asyncio.run(
                    _publish_and_collect(nats.url, prefix, partitions, burst, None, wait_s)
                )
                burst_figures = _phase(burst, published, collected, publish_s)
                # CPU at once (idle workers still poll); the SQL counts once the workers have
                # rewritten their files (every 0.5 s); PostgreSQL's counters last: backends
                # report them when idle, up to 10 s late (PostgreSQL 15).
                cpu_after = {
                    "workers": _cpu_of(running.pids()),
                    "postgres": _cpu_of(pg_counters(server_url, database)["pids"]),
                    "nats": _cpu_of([nats.pid] if nats.pid else []),
                }
                time.sleep(1.0)
                sql_after = running.sql_counts()
                time.sleep(PG_STATS_DELAY_S)
                after_pg = pg_counters(server_url, database)
                decided = max(1, burst_figures["events"])
                burst_figures["cost_per_event"] = {
                    "worker_cpu_us": round(
                        _cpu_delta(cpu_before["workers"], cpu_after["workers"]) / decided * 1e6,
                        1,
                    ),
                    "postgres_cpu_us": round(
                        _cpu_delta(cpu_before["postgres"], cpu_after["postgres"]) / decided * 1e6,
                        1,
                    ),
                    "nats_cpu_us": round(
                        _cpu_delta(cpu_before["nats"], cpu_after["nats"]) / decided * 1e6, 1
                    )
                    if nats.pid
                    else None,
                    "pg_transactions": round(
                        (after_pg["xact_commit"] - before_pg["xact_commit"]) / decided, 3
                    ),
                    "pg_rows_inserted": round(
                        (after_pg["tup_inserted"] - before_pg["tup_inserted"]) / decided, 3
                    ),
                    "pg_rows_updated": round(
                        (after_pg["tup_updated"] - before_pg["tup_updated"]) / decided, 3
                    ),
                    "pg_rows_fetched": round(
                        (after_pg["tup_fetched"] - before_pg["tup_fetched"]) / decided, 3
                    ),
                    "worker_sql": {
                        key: round((sql_after.get(key, 0) - sql_before.get(key, 0)) / decided, 3)
                        for key in sorted(set(sql_after) | set(sql_before))
                    },
                }
                paced_phases: list[dict[str, Any]] = []
                for wanted_rate in paced_rates if burst_figures["events_per_s"] > 0 else []:
                    rate = wanted_rate or burst_figures["events_per_s"] / 2
                    count = min(paced_events, max(100, int(rate * paced_seconds)))
                    paced, remaining = remaining[:count], remaining[count:]
                    if not paced:
                        break
                    log(f"  {workers} worker(s): {len(paced):,} events paced at {rate:,.0f}/s")
                    time.sleep(1.0)  # the burst's last acknowledgements settle first
                    published, collected, publish_s = asyncio.run(
                        _publish_and_collect(
                            nats.url, prefix, partitions, paced, rate, max(MIN_WAIT_S, 60.0)
                        )
                    )
                    phase = _phase(paced, published, collected, publish_s)
                    phase["offered_events_per_s"] = round(rate, 1)
                    phase["offered_as"] = "half the burst" if wanted_rate is None else "fixed"
                    paced_phases.append(phase)
                crashed = [p.returncode for p in running.procs if p.poll() is not None]
                tails = running.log_tails() if crashed else []
            published_ids = [str(d["event_id"]) for d in dicts[: len(dicts) - len(remaining)]]
            check = _compare(_decisions_of(url), reference, published_ids)
            identical = None
            if engine_reference is not None:
                rows = stored_decision_rows(url)
                name = f"stream_{workers}"
                identical = compare_decisions(
                    published_ids,
                    engine_reference,
                    {name: {row[0]: row[1] for row in rows}},
                    out_of_order={name: decided_out_of_order(published_ids, rows)},
                )["paths"][name]
                if validated is not None:
                    published = set(published_ids)
                    identical["in_decided_order"] = decided_order_check(
                        [e for e in validated if e.event_id in published], rows
                    )
        finally:
            asyncio.run(_delete_streams(nats.url, prefix))
    out: dict[str, Any] = {
        "workers": workers,
        "partitions": partitions,
        "partitions_held": partitions_held,
        "burst": burst_figures,
        "paced": paced_phases,
        "check": check,
    }
    if identical is not None:
        out["identical_to_engine_only"] = identical
    if crashed:
        out["workers_exited"] = crashed
        out["worker_log_tails"] = tails
    return out


# =============================================================================================
# The shared store's cost per decision, in process
# =============================================================================================

# Every window of every entity: a rule set whose features read the 10-minute to 30-day windows
# of the customer, device, IP, payee and customer-payee pair (what a "more windows" rule set
# costs against the default's 1 h and 24 h).
_WIDE_WINDOWS = ("10m", "1h", "24h", "7d", "30d")


def wide_ruleset_text() -> str:
    """The default rule set plus one weight-only rule per window reading every entity."""
    from lendguard.decisions.service import default_ruleset_text

    base = default_ruleset_text().rstrip() + "\n"
    extra = []
    for window in _WIDE_WINDOWS:
        when = " + ".join(
            f"coalesce({feature}_{window}, 0)"
            for feature in (
                "customer_event_count",
                "customer_outflow_sum",
                "customer_distinct_payee",
                "device_distinct_customer",
                "ip_distinct_customer",
                "payee_distinct_payer",
                "pair_outflow_count",
            )
        )
        extra.append(
            f"  - id: bench-window-{window}\n"
            f"    description: Reads every entity's {window} window (benchmark only).\n"
            "    category: fraud\n"
            f"    when: ({when}) < 0\n"
            "    action: allow\n"
            "    reason: SEVERAL_DRAWDOWNS\n"
            "    weight: 1\n"
        )
    return base + "\n".join(extra)


@contextmanager
def _statement_counter(engine: Any) -> Iterator[Counter[str]]:
    from sqlalchemy import event

    counts: Counter[str] = Counter()

    def value_bytes(value: Any) -> int:
        if isinstance(value, bytes | bytearray | memoryview):
            return len(value)
        if isinstance(value, str):
            return len(value.encode("utf-8"))
        return 8 if value is not None else 0

    def row_bytes(row: Any) -> int:
        values = row.values() if isinstance(row, dict) else row
        return sum(value_bytes(v) for v in values)

    def on_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        counts["statements"] += 1
        rows = (parameters or []) if many else ([parameters] if parameters else [])
        sent = sum(row_bytes(row) for row in rows)
        counts["parameter_bytes"] += sent
        if "entity_states" in statement and statement.lstrip().upper().startswith("UPDATE"):
            counts["state_bytes_written"] += sent
        if many:
            counts["executemany"] += 1

    def on_commit(conn: Any) -> None:
        counts["commits"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


# How events reach the decider: one call per event (a lone synchronous caller), 8 requests in
# flight on one event loop (the API process: concurrent requests share a transaction), or 100
# per call (a worker's batch).
STATE_COST_MODES = ("decide", "decide_async_8", "decide_many_100")


def state_cost(
    events: Sequence[Event], server_url: str, modes: Sequence[str] = STATE_COST_MODES
) -> dict[str, Any]:
    """Statements and commits per decision on the shared store, by rule set and by how events
    arrive, and by the number of state keys an event touches (one event per transaction)."""
    from lendguard.db import make_engine
    from lendguard.decisions.features.compute import entity_keys
    from lendguard.decisions.rules.loader import parse_ruleset
    from lendguard.decisions.service import DecisionService
    from lendguard.decisions.state import SharedStateStore
    from lendguard.graph.index import LinkIndex

    out: dict[str, Any] = {}
    rulesets = {"default": None, "every_window": wide_ruleset_text()}
    for ruleset_name, ruleset_text in rulesets.items():
        for mode in modes:
            with fresh_database(server_url) as url:
                upgrade(url)
                engine = make_engine(url)
                service = DecisionService(engine, SharedStateStore(engine), link_index=LinkIndex)
                service.start()
                if ruleset_text is not None:
                    service.ruleset = parse_ruleset(ruleset_text, file="every_window.yaml")
                by_keys: dict[int, Counter[str]] = {}
                cpu0 = time.process_time()
                t0 = time.perf_counter()
                try:
                    with _statement_counter(engine) as counts:
                        if mode == "decide":
                            for event in events:
                                before = counts.copy()
                                service.decide(event)
                                n_keys = len(entity_keys(event))
                                bucket = by_keys.setdefault(n_keys, Counter())
                                bucket["events"] += 1
                                bucket.update(counts - before)
                        elif mode == "decide_async_8":
                            _decide_async(service, events, 8)
                        else:
                            for start in range(0, len(events), 100):
                                service.decide_many(list(events[start : start + 100]))
                    wall = time.perf_counter() - t0
                    cpu = time.process_time() - cpu0
                finally:
                    service.close()
                    engine.dispose()
            n = len(events)
            block: dict[str, Any] = {
                "events": n,
                "events_per_s": round(n / wall, 1),
                "process_cpu_us_per_event": round(cpu / n * 1e6, 1),
                "statements_per_event": round(counts["statements"] / n, 3),
                "executemany_per_event": round(counts["executemany"] / n, 3),
                "commits_per_event": round(counts["commits"] / n, 3),
                # What the statements carry to the server (≈ what PostgreSQL writes to its WAL
                # before page overhead): all parameters, and the state rows' new blobs.
                "parameter_bytes_per_event": round(counts["parameter_bytes"] / n),
                "state_bytes_written_per_event": round(counts["state_bytes_written"] / n),
            }
            if by_keys:
                block["by_state_keys"] = {
                    str(k): {
                        "events": v["events"],
                        "statements_per_event": round(v["statements"] / v["events"], 3),
                        "commits_per_event": round(v["commits"] / v["events"], 3),
                    }
                    for k, v in sorted(by_keys.items())
                }
            out[f"{ruleset_name}_{mode}"] = block
    return out


def _decide_async(service: Any, events: Sequence[Event], in_flight: int) -> None:
    """``decide_async`` from ``in_flight`` tasks on one event loop, in the events' order."""
    cursor = 0

    async def caller() -> None:
        nonlocal cursor
        while cursor < len(events):
            i = cursor
            cursor += 1
            await service.decide_async(events[i])

    async def main() -> None:
        await asyncio.gather(*(caller() for _ in range(in_flight)))

    asyncio.run(main())


# =============================================================================================
# Everything together
# =============================================================================================


def run_stream_throughput(
    events: int = DEFAULT_EVENTS,
    paced_events: int = DEFAULT_PACED_EVENTS,
    paced_rates: Sequence[float | None] = DEFAULT_PACED_RATES,
    paced_seconds: float = DEFAULT_PACED_SECONDS,
    worker_counts: Sequence[int] = DEFAULT_WORKERS,
    partitions: int = DEFAULT_PARTITIONS,
    seed: int = DEFAULT_SEED,
    with_state_cost: bool = True,
    state_cost_events: int = 2_000,
    log: Log | None = None,
) -> dict[str, Any]:
    say: Log = log or (lambda _: None)
    server_url = os.environ.get(BENCH_DATABASE_ENV)
    if not server_url:
        return {"skipped": f"{BENCH_DATABASE_ENV} is not set (a PostgreSQL server is needed)"}
    unreachable = _reachable_postgres(server_url)
    if unreachable is not None:
        return {"skipped": f"PostgreSQL at {BENCH_DATABASE_ENV} unreachable: {unreachable}"}
    if subprocess.run(_lendguard("worker", "--help"), capture_output=True).returncode != 0:
        return {"skipped": "this lendguard has no `worker` command"}
    external = os.environ.get(NATS_ENV)
    if not external and _nats_binary() is None:
        return {"skipped": f"no nats-server binary on PATH and {NATS_ENV} is not set"}
    result: dict[str, Any] = {"machine": machine_info(), "source": source_info()}
    # Enough events for every phase; the reference decides them all (a prefix of the same
    # ordered events is what each stream run decides, so the comparison holds).
    workload = build_workload(events + paced_events * len(paced_rates), seed)
    dicts = workload.dicts
    validated = workload.events()
    result["workload"] = {
        "events": len(dicts),
        "burst_events": events,
        "paced_events_at_most": paced_events,
        "paced_rates": [rate if rate is not None else "half the burst" for rate in paced_rates],
        "paced_seconds": paced_seconds,
        "seed": seed,
        "customers": workload.summary["customers"],
    }

    say(f"stream_throughput: reference, {len(dicts):,} events in process (SQLite, memory state)")
    reference, reference_decisions = _reference(validated)
    result["reference"] = reference
    # What every path is held to (bench/run_all.py's identical-decisions check): the engine
    # alone, in event order, on the same events.
    engine_reference, _ = engine_only_decisions(validated)

    with tempfile.TemporaryDirectory(prefix="lg-stream-nats-") as tmp:
        if external:
            nats_cm: Any = _external_nats(external)
        else:
            nats_cm = private_nats(Path(tmp))
        with nats_cm as nats:
            result["nats"] = {
                "private": not external,
                "version": nats.version,
                "sync_interval": nats.sync_interval,
            }
            runs: list[dict[str, Any]] = []
            for count in worker_counts:
                say(f"stream_throughput: {count} worker(s), {partitions} partitions")
                try:
                    # The same burst in process right before: on a shared machine the load
                    # drifts, and the ratio is only fair against a reference of the moment.
                    say(f"  reference again on the {events:,} burst events")
                    adjacent, _ = _reference(validated[:events])
                    runs.append(
                        scale_out_run(
                            count,
                            dicts,
                            events,
                            reference_decisions,
                            server_url,
                            nats,
                            partitions,
                            say,
                            paced_rates,
                            paced_seconds,
                            paced_events,
                            engine_reference,
                            validated,
                        )
                    )
                    runs[-1]["reference_just_before"] = {
                        key: adjacent[key]
                        for key in ("events", "events_per_s", "p50_us", "p99_us", "backend")
                    }
                except Exception as exc:  # one failed run is reported, not the end of make bench
                    say(f"  {count} worker(s) failed: {type(exc).__name__}: {exc}")
                    runs.append({"workers": count, "error": f"{type(exc).__name__}: {exc}"})
            result["stream"] = runs
    result["ratios"] = {
        f"{run['workers']}_workers_to_reference": round(
            run["burst"]["events_per_s"] / run["reference_just_before"]["events_per_s"], 3
        )
        for run in result["stream"]
        if "burst" in run and run["reference_just_before"]["events_per_s"]
    }
    if with_state_cost:
        say(f"stream_throughput: shared-store cost in process, {state_cost_events:,} events")
        result["state_cost"] = state_cost(validated[:state_cost_events], server_url)
    try:
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    return result


def _reference(events: Sequence[Event]) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
    """The single-process path on these events (``bench_in_process``: SQLite, memory state):
    its figures and each event's (action, score)."""
    with tempfile.TemporaryDirectory(prefix="lg-stream-ref-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'reference.db'}"
        figures = bench_in_process(events, url)
        decisions = _decisions_of(url)
    for key in ("by_type", "slowest"):
        figures.pop(key, None)
    return figures, decisions


@contextmanager
def _external_nats(url: str) -> Iterator[NatsServer]:
    yield NatsServer(url, None, None, "unknown (an external server)")


def summary_lines(result: dict[str, Any]) -> list[str]:
    if "skipped" in result:
        return [f"stream_throughput skipped: {result['skipped']}"]
    ref = result["reference"]
    lines = [
        f"reference (one process, SQLite, memory state): {ref['events_per_s']:,.0f} events/s, "
        f"p99 {ref['p99_us']:,.0f} µs"
    ]
    for run in result["stream"]:
        if "error" in run:
            lines.append(f"{run['workers']} worker(s): failed: {run['error'][:300]}")
            continue
        burst = run["burst"]
        cost = burst["cost_per_event"]
        line = (
            f"{run['workers']} worker(s): {burst['events_per_s']:,.0f} events/s "
            f"({result['ratios'].get(str(run['workers']) + '_workers_to_reference', 0):.3f} of "
            f"the reference just before, "
            f"{run['reference_just_before']['events_per_s']:,.0f}/s); "
            f"worker CPU {cost['worker_cpu_us']:,.0f} µs/event, PostgreSQL "
            f"{cost['postgres_cpu_us']:,.0f} µs/event, {cost['pg_transactions']:.3f} tx/event"
        )
        for paced in run["paced"]:
            line += (
                f"; paced at {paced['offered_events_per_s']:,.0f}/s: p50 "
                f"{paced['p50_us'] / 1000:,.1f} ms, p99 {paced['p99_us'] / 1000:,.1f} ms"
            )
        check = run["check"]
        line += (
            f"; decided once each: {check['every_event_decided_once']}, actions differing "
            f"from the reference: {check['action_differs_from_reference']}"
        )
        identical = run.get("identical_to_engine_only")
        if identical:
            line += (
                f"; vs engine only (action, score, reasons): {identical['differing']} of "
                f"{identical['compared']:,} differ, "
                f"{identical.get('differing_out_of_customer_order', 0)} of them decided out of "
                f"their customer's order ({identical.get('decided_out_of_customer_order', 0)} "
                "events were)"
            )
        lines.append(line)
    for name, block in result.get("state_cost", {}).items():
        lines.append(
            f"shared store {name}: {block['statements_per_event']:.2f} statements, "
            f"{block['commits_per_event']:.3f} commits per event, "
            f"{block['process_cpu_us_per_event']:,.0f} µs CPU/event"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="burst events")
    parser.add_argument("--paced-events", type=int, default=DEFAULT_PACED_EVENTS)
    parser.add_argument("--workers", default=",".join(map(str, DEFAULT_WORKERS)))
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument(
        "--paced-rates",
        default="100,half",
        help="events/s of each paced phase, comma-separated; 'half': half the burst's rate",
    )
    parser.add_argument("--paced-seconds", type=float, default=DEFAULT_PACED_SECONDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--state-cost-events", type=int, default=2_000)
    parser.add_argument("--state-cost", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run_stream_throughput(
        events=args.events,
        paced_events=args.paced_events,
        worker_counts=[int(x) for x in args.workers.split(",") if x.strip()],
        partitions=args.partitions,
        seed=args.seed,
        with_state_cost=args.state_cost,
        state_cost_events=args.state_cost_events,
        log=log,
        paced_rates=[
            None if x.strip() == "half" else float(x)
            for x in args.paced_rates.split(",")
            if x.strip()
        ],
        paced_seconds=args.paced_seconds,
    )
    for line in summary_lines(result):
        log(line)
    text_out = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    print(text_out)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text_out + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
