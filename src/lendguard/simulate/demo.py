"""``make demo``: a month of lending with scams, decided by the full engine, then the API."""

from __future__ import annotations

import csv
import secrets
import time
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lendguard.auth.secret_settings import (
    DEMO_SECRETS_FILE,
    MASTER_KEY,
    PII_KEY,
    WEBHOOK_SECRET,
    demo_secrets,
    refuse_default_secrets,
)
from lendguard.config import Settings
from lendguard.events.schemas import Event
from lendguard.simulate.generator import generate
from lendguard.simulate.metrics import Outcome

DEMO_DIR = Path("var/demo")
DEMO_DB = Path("var/demo.db")


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


def run_demo(customers: int, days: int, seed: int, serve_api: bool, host: str, port: int) -> None:
    console = Console()
    console.rule("[bold]LendGuard demo")
    console.print(f"Simulating {customers:,} customers over {days} days (seed {seed}) …")
    population = generate(customers=customers, days=days, seed=seed)
    write_population(population.events, population.accounts_rows(), DEMO_DIR)
    console.print(f"{len(population.events):,} events written to {DEMO_DIR}/events.jsonl")

    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    admin_key = "lg_demo_" + secrets.token_urlsafe(18)
    # The PII key, the vault's master key and the webhook secret: made once for this checkout
    # and kept in var/demo-secrets.env (mode 0600), never the built-in ones.
    keys = demo_secrets(DEMO_SECRETS_FILE)
    # The demo serves plain HTTP on localhost, so the console cookie cannot be HTTPS-only here.
    settings = Settings(
        database_url=f"sqlite:///./{DEMO_DB}",
        bootstrap_admin_key=admin_key,
        log_level="WARNING",
        cookie_secure=False,
        pii_key=keys[PII_KEY],
        master_key=keys[MASTER_KEY],
        webhook_secret=keys[WEBHOOK_SECRET],
    )
    refuse_default_secrets(settings)
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
    # approves rule-set versions that someone else uploaded.
    passwords = {role: "demo-" + secrets.token_urlsafe(9) for role in ("analyst", "approver")}
    for role, password in passwords.items():
        services.users.create(f"demo-{role}", password, role, "zh-CN")
    services.close()
    if not serve_api:
        return
    import uvicorn

    from lendguard.app import create_app

    console.print(f"\nServing the API on http://{host}:{port} (OpenAPI at /docs). Ctrl-C stops.")
    console.print(f"Admin API key for this demo: [bold]{admin_key}[/bold]")
    console.print(f"Console: http://{host}:{port}/console — sign in as")
    for role, password in passwords.items():
        console.print(f"  demo-{role} / {password}")
    console.print(
        f"  curl -H 'Authorization: Bearer {admin_key}' "
        f"http://{host}:{port}/v1/customers/{population.customers[0].customer_id}/decisions"
    )
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
