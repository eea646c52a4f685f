"""``lendguard worker`` (decide the events published to NATS JetStream) and the ``lendguard
stream`` group (publish events from a file, show each partition's backlog and owner)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lendguard.cli import factory
from lendguard.cli.common import dumps, err, fail
from lendguard.config import get_settings

if TYPE_CHECKING:
    from lendguard.app import Services
    from lendguard.config import Settings

app = typer.Typer(
    no_args_is_help=True, help="The event stream (NATS JetStream): publish events, show status."
)


def worker(
    init_streams: Annotated[
        bool,
        typer.Option(
            "--init-streams",
            help="Create or update the streams and consumers, then exit (a deployment step)",
        ),
    ] = False,
    health_port: Annotated[
        int, typer.Option(help="Port of /healthz and /readyz (0: no health server)")
    ] = 8081,
    health_host: Annotated[str, typer.Option(help="Interface of the health server")] = "127.0.0.1",
    worker_id: Annotated[
        str | None,
        typer.Option(help="This worker's name in the lease bucket (default: host-random)"),
    ] = None,
    lease_ttl: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds after which a dead worker's partitions are taken over by the others",
        ),
    ] = 10.0,
) -> None:
    """Decide the events published to NATS JetStream, each partition by one worker at a time.

    Events come from PREFIX.events.N (N: the customer's partition), each decision goes to
    PREFIX.decisions.N, refused events to PREFIX.deadletter.N. Stops cleanly on SIGTERM or
    Ctrl-C."""
    from lendguard.auth.secret_settings import default_secrets, refusal_message

    settings = get_settings()
    if init_streams:
        _init_streams(settings)
        return
    if worker_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", worker_id):
        raise fail("--worker-id: 1 to 64 letters, digits, '-' or '_'")
    problems = default_secrets(settings)
    if problems:
        # As `lendguard serve`: customers' pseudonyms and the vault would be open to anyone.
        typer.echo(refusal_message(problems), err=True)
        raise typer.Exit(2)
    _wait_for_the_database(settings.database_url)
    if settings.state_backend == "memory":
        err.print(
            "note: LENDGUARD_STATE_BACKEND=memory keeps window state in this process: run one "
            "worker (and no API process deciding events). Several need "
            "LENDGUARD_STATE_BACKEND=shared."
        )
    with factory.services() as services:
        code = asyncio.run(
            _run_worker(settings, services, health_host, health_port, worker_id, lease_ttl)
        )
    if code:
        raise typer.Exit(code)


def _wait_for_the_database(url: str) -> None:
    """A worker started while the database is away (a restart during an outage) waits for it,
    saying so, instead of exiting: it starts deciding by itself when the database is back."""
    from lendguard.db import safe_url, unreachable_reason

    delay = 0.5
    while (unreachable := unreachable_reason(url)) is not None:
        err.print(
            f"waiting for the database at {safe_url(url)} (LENDGUARD_DATABASE_URL): "
            f"{unreachable}; trying again in {delay:g} s"
        )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _run_worker(
    settings: Settings,
    services: Services,
    health_host: str,
    health_port: int,
    worker_id: str | None,
    lease_ttl: float,
) -> int:
    from sqlalchemy import text

    from lendguard.stream.health import HealthServer
    from lendguard.stream.worker import StreamWorker

    engine = services.decisions.db

    def database_check() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    worker = StreamWorker(
        settings,
        services.decisions,
        worker_id=worker_id,
        lease_ttl_s=lease_ttl,
        database_check=database_check,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    health = HealthServer(worker, health_host, health_port) if health_port else None
    if health is not None:
        await health.start()
    try:
        connecting = asyncio.create_task(worker.connect())
        stopping = asyncio.create_task(worker.stopping.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            return 0
        try:
            await worker.run()
        except RuntimeError as exc:  # the streams are missing
            typer.echo(f"error: {exc}", err=True)
            return 2
    finally:
        if health is not None:
            await health.stop()
    return 0


def _init_streams(settings: Settings) -> None:
    """Create or update the three streams and every partition's consumer (idempotent), and
    print the durability warning once."""
    from lendguard.stream.streams import durability_warning, ensure_streams
    from lendguard.stream.tools import connect_once

    async def run() -> dict[str, object]:
        nc = await connect_once(settings.nats_url, "lendguard-init-streams")
        try:
            names = await ensure_streams(nc.jetstream(), settings)
            version = nc.connected_server_version
        finally:
            await nc.close()
        return {"streams": names, "warning": durability_warning(version.major, version.minor)}

    done = _with_nats(settings.nats_url, run)
    names = done["streams"]
    assert isinstance(names, list)
    err.print(
        f"streams ready: {', '.join(names)} "
        f"({settings.stream_partitions} partitions, consumers {settings.stream_prefix}-p0...)"
    )
    typer.echo(f"warning: {done['warning']}", err=True)


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="Events, one JSON object per line ('-': stdin)")],
) -> None:
    """Publish each event to its customer's partition (Nats-Msg-Id = event_id), waiting for
    every acknowledgement; prints the counts. Lines that cannot be routed are listed on
    stderr and make the exit status 2."""
    from nats.js.errors import NotFoundError

    from lendguard.stream.partitions import stream_name
    from lendguard.stream.streams import ensure_streams
    from lendguard.stream.tools import connect_once, publish_events

    settings = get_settings()
    try:
        lines = sys.stdin.buffer.readlines() if str(file) == "-" else file.read_bytes().splitlines()
    except OSError as exc:
        raise fail(f"{file}: {exc}") from None

    async def run() -> dict[str, object]:
        nc = await connect_once(settings.nats_url, "lendguard-publish")
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(stream_name(settings.stream_prefix, "events"))
            except NotFoundError:
                # First use (a demo, a lender trying it): create them. Existing streams and
                # consumers are left as the workers configured them.
                await ensure_streams(js, settings)
            report = await publish_events(
                js, settings.stream_prefix, settings.stream_partitions, lines
            )
        finally:
            await nc.close()
        for number, why in report.refused:
            typer.echo(f"line {number}: {why}", err=True)
        return {
            "published": report.published,
            "duplicates": report.duplicates,
            "refused": len(report.refused),
        }

    counts = _with_nats(settings.nats_url, run)
    typer.echo(dumps(counts))
    if counts["refused"]:
        raise typer.Exit(2)


@app.command()
def status() -> None:
    """Per partition: events waiting, delivered but not yet acknowledged, and the worker
    holding it; and the message count of each stream."""
    from lendguard.stream.tools import connect_once, stream_status

    settings = get_settings()

    async def run() -> dict[str, object]:
        nc = await connect_once(settings.nats_url, "lendguard-status")
        try:
            return await stream_status(
                nc.jetstream(), settings.stream_prefix, settings.stream_partitions
            )
        finally:
            await nc.close()

    typer.echo(dumps(_with_nats(settings.nats_url, run)))


def _with_nats(
    url: str, run: Callable[[], Coroutine[Any, Any, dict[str, object]]]
) -> dict[str, object]:
    """Run a one-shot coroutine function; NATS unreachable: a one-line error, status 2."""
    import nats.errors

    # Credentials in the URL are not printed.
    shown = url if "@" not in url else "(set)"
    try:
        return asyncio.run(run())
    except (nats.errors.NoServersError, nats.errors.TimeoutError, OSError) as exc:
        raise fail(
            f"cannot reach NATS at {shown} (LENDGUARD_NATS_URL): {type(exc).__name__}"
        ) from None
