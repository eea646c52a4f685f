"""``make demo``: a month of lending with scams, decided by the full engine, then the API."""

from __future__ import annotations

import csv
import errno
import re
import secrets
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lendguard.auth.secret_settings import (
    DEMO_SECRETS_FILE,
    MASTER_KEY,
    PII_KEY,
    WEBHOOK_SECRET,
    as_dotenv,
    demo_secrets,
    refuse_default_secrets,
    write_private,
)
from lendguard.config import Settings
from lendguard.events.schemas import Event
from lendguard.kit.serverlock import DatabaseInUse, holding
from lendguard.simulate.demo_activity import run_activity
from lendguard.simulate.generator import generate
from lendguard.simulate.metrics import Outcome

DEMO_DIR = Path("var/demo")
DEMO_DB = Path("var/demo.db")
DEMO_URL = f"sqlite:///./{DEMO_DB}"
# What the other commands need to work on the demo's database (see write_demo_env).
DEMO_ENV = Path("var/demo.env")


def write_population(
    events: list[dict[str, object]], accounts: list[dict[str, str]], directory: Path
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "events.jsonl").open("wb") as handle:
        for event in events:
            handle.write(orjson.dumps(event) + b"\n")
    with (directory / "accounts.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["customer_id", "role", "scenario", "ring_id"])
        writer.writeheader()
        writer.writerows(accounts)


class DemoRefused(RuntimeError):
    """The demo will not start: its port is taken, or a server is running on its database."""


def option_problem(customers: int, days: int, port: int) -> str | None:
    """What is wrong with the options, or None; checked before any work. ``--customers 0``
    rebuilt the database and then failed with an IndexError; ``--port 70000`` was checked as
    port 4464 (the resolver wraps it) and printed in commands that could not work."""
    if customers < 1:
        return f"--customers must be at least 1 (got {customers})"
    if days < 1:
        return f"--days must be at least 1 (got {days})"
    if not 1 <= port <= 65535:
        return f"--port must be a port number from 1 to 65535 (got {port})"
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served (taken by another process, or not an address of this
    machine), or None. Checked before the simulation, so a taken port costs no minutes."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        return (
            f"cannot serve on {host}:{port} ({reason}): stop what is using it, "
            "or pick another with --port (or --no-serve)"
        )
    return None


@dataclass(frozen=True, slots=True)
class DemoAccess:
    """How to get into the demo: the admin API key and the console users' passwords."""

    admin_key: str
    passwords: dict[str, str]  # username -> password


_ADMIN_KEY_VARIABLE = "LENDGUARD_BOOTSTRAP_ADMIN_KEY"
_USER_LINE = re.compile(r"^# console user (demo-[a-z]+) password (demo-[A-Za-z0-9_-]{8,})$")
_ADMIN_KEY = re.compile(r"^lg_demo_[A-Za-z0-9_-]{20,}$")
DEMO_ROLES = ("analyst", "approver")


def saved_access(path: Path = DEMO_ENV) -> DemoAccess | None:
    """The admin key and console passwords of an earlier run, from ``path``; None if there are
    none (or they were edited into something else)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    key = next(
        (line.partition("=")[2] for line in lines if line.startswith(_ADMIN_KEY_VARIABLE)), ""
    )
    passwords = {m.group(1): m.group(2) for line in lines if (m := _USER_LINE.match(line))}
    if not _ADMIN_KEY.match(key) or set(passwords) != {f"demo-{r}" for r in DEMO_ROLES}:
        return None
    return DemoAccess(key, passwords)


def new_access() -> DemoAccess:
    return DemoAccess(
        admin_key="lg_demo_" + secrets.token_urlsafe(18),
        passwords={f"demo-{role}": "demo-" + secrets.token_urlsafe(9) for role in DEMO_ROLES},
    )


def write_demo_env(access: DemoAccess, keys: dict[str, str], path: Path = DEMO_ENV) -> None:
    """``path`` (mode 0600): what the other commands need to work on the demo's database.
    ``set -a; . var/demo.env; set +a`` in a shell points ``lendguard apikeys create``,
    ``serve`` and the rest at ``var/demo.db`` with the demo's keys and admin key."""
    values = {
        "LENDGUARD_DATABASE_URL": DEMO_URL,
        _ADMIN_KEY_VARIABLE: access.admin_key,
        # The demo serves plain HTTP on localhost: the console cookie cannot be HTTPS-only.
        "LENDGUARD_COOKIE_SECURE": "false",
        **keys,
    }
    users = "".join(
        f"# console user {name} password {password}\n"
        for name, password in access.passwords.items()
    )
    header = "# Written by `lendguard demo`: the demo's database, keys, admin key and users.\n"
    write_private(path, header + as_dotenv(values) + users)


def run_demo(
    customers: int, days: int, seed: int, serve_api: bool, host: str, port: int
) -> DemoAccess:
    """Simulate, decide and summarise into a fresh ``var/demo.db``; print how to get in (and
    where that is kept); serve the API if asked. Refuses (:class:`DemoRefused`) before any work
    when the port is taken or a server is running on ``var/demo.db``. A second run reuses the
    first's admin key and console passwords."""
    problem = option_problem(customers, days, port)
    if problem is not None:
        raise DemoRefused(problem)
    if serve_api:
        problem = port_problem(host, port)
        if problem is not None:
            raise DemoRefused(problem)
    with ExitStack() as stack:
        try:
            lock = stack.enter_context(holding(DEMO_URL, exclusive=True))
        except DatabaseInUse:
            raise DemoRefused(
                f"a LendGuard server is running on {DEMO_DB} (the demo's, or lendguard serve): "
                "stop it (Ctrl-C in its terminal) before running the demo again"
            ) from None
        access, settings, first_customer = _build(customers, days, seed)
        console = Console()
        _print_access(console, access, host, port, serve_api, first_customer)
        if not serve_api:
            return access
        import uvicorn

        from lendguard.app import create_app

        lock.share()  # serving, as any server does: `lendguard serve` may join on another port
        app = create_app(settings)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return access


def _build(customers: int, days: int, seed: int) -> tuple[DemoAccess, Settings, str]:
    console = Console()
    console.rule("[bold]LendGuard demo")
    console.print(f"Simulating {customers:,} customers over {days} days (seed {seed}) …")
    population = generate(customers=customers, days=days, seed=seed)
    write_population(population.events, population.accounts_rows(), DEMO_DIR)
    console.print(f"{len(population.events):,} events written to {DEMO_DIR}/events.jsonl")

    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    access = saved_access() or new_access()
    # The PII key, the vault's master key and the webhook secret: made once for this checkout
    # and kept in var/demo-secrets.env (mode 0600), never the built-in ones.
    keys = demo_secrets(DEMO_SECRETS_FILE)
    settings = Settings(
        database_url=DEMO_URL,
        bootstrap_admin_key=access.admin_key,
        log_level="WARNING",
        cookie_secure=False,
        pii_key=keys[PII_KEY],
        master_key=keys[MASTER_KEY],
        webhook_secret=keys[WEBHOOK_SECRET],
    )
    refuse_default_secrets(settings)
    write_demo_env(access, keys)
    from lendguard.app import build_services

    services = build_services(settings)
    roles = {c.customer_id: c.role for c in population.customers}
    outcome = Outcome(roles=roles)
    service = services.decisions
    started = time.perf_counter()
    columns = (
        TextColumn("deciding events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("replay", total=len(population.events))
        group = 256  # events per commit, as a lender's batch upload would send them
        for start in range(0, len(population.events), group):
            chunk = population.events[start : start + group]
            decisions = service.decide_many([Event.model_validate(raw) for raw in chunk])
            for raw, decision in zip(chunk, decisions, strict=True):
                if isinstance(decision, dict):
                    outcome.add(raw, decision)
            bar.update(task, completed=start + len(chunk))
        bar.update(task, completed=len(population.events))
    outcome.elapsed_s = time.perf_counter() - started
    console.print(
        f"Decisions are durable in {DEMO_DB} (full path: idempotency, window state, decision log)."
    )
    outcome.print(console)
    queue = services.cases.queue(limit=1)
    console.print(
        f"Cases opened by interceptions and blocks: {queue['total']:,} waiting in the queue."
    )
    # Two principals, so maker–checker can be tried: the analyst works cases, the approver
    # approves rule-set versions that someone else uploaded (and, in the month's work below,
    # releases above the release policy's amount that the analyst proposed).
    for role in DEMO_ROLES:
        services.users.create(f"demo-{role}", access.passwords[f"demo-{role}"], role, "zh-CN")
    # The month's other work (consents, cases worked, complaints, requests …), so the report
    # on the demo's database has content.
    activity = run_activity(services, population, seed, datetime.now(UTC))
    activity.print(console)
    queue = services.cases.queue(limit=1)
    console.print(f"Cases still waiting in the queue: {queue['total']:,}.")
    services.close()
    return access, settings, population.customers[0].customer_id


def _print_access(
    console: Console, access: DemoAccess, host: str, port: int, serving: bool, customer: str
) -> None:
    base = f"http://{host}:{port}"
    console.print()
    if serving:
        console.print(f"Serving the API on {base} (OpenAPI at /docs). Ctrl-C stops.")
    console.print(f"Admin API key for this demo: [bold]{access.admin_key}[/bold]")
    console.print(
        f"Console: {base}/console" + ("" if serving else " (once served)") + " — sign in as"
    )
    for name, password in access.passwords.items():
        console.print(f"  {name} / {password}")
    console.print(
        f"Kept in {DEMO_ENV} (mode 0600) with the demo's database and keys; a second run reuses "
        f"them. In a shell, this points lendguard (apikeys create, serve, …) at {DEMO_DB}:"
    )
    # Commands to copy: never wrapped.
    console.print(f"  set -a; . {DEMO_ENV}; set +a", soft_wrap=True)
    if not serving:
        console.print(f"  .venv/bin/lendguard serve --port {port}", soft_wrap=True)
    console.print(
        f"  curl -H 'Authorization: Bearer {access.admin_key}' "
        f"{base}/v1/customers/{customer}/decisions",
        soft_wrap=True,
    )
