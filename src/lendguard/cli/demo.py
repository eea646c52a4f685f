"""Offline runs on simulated or recorded history: simulate, replay, backtest and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lendguard.cli.common import dumps, err, fail


def replay(
    file: Annotated[Path, typer.Argument(help="Events as JSONL, CSV or Parquet")],
    out: Annotated[Path | None, typer.Option(help="Decisions file (JSONL)")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
    rules: Annotated[Path | None, typer.Option(help="Rule-set file instead of the default")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Replay a history file through the engine (in memory) and summarise the decisions."""
    from lendguard.simulate.replay import ReplayError, replay_file

    try:
        summary = replay_file(file, out=out, skip_bad=skip_bad, rules_file=rules)
    except ReplayError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if json_out:
        typer.echo(dumps(summary.as_dict()))
    else:
        summary.print(Console())


def simulate(
    customers: Annotated[int, typer.Option(help="Customers to simulate")] = 10_000,
    days: Annotated[int, typer.Option(help="Days to simulate")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same output)")] = 1,
    out: Annotated[Path, typer.Option(help="Output folder")] = Path("var/sim"),
    ring_members_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of extra customers in fraud rings")
    ] = 0.004,
    mule_rate: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of mules")] = 0.002,
) -> None:
    """Write a synthetic population with scams: DIR/events.jsonl and DIR/accounts.csv."""
    from rich.progress import Progress

    from lendguard.simulate.demo import write_population
    from lendguard.simulate.generator import generate

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("simulating customers", total=customers)
        population = generate(
            customers=customers,
            days=days,
            seed=seed,
            ring_members_rate=ring_members_rate,
            mule_rate=mule_rate,
            on_progress=lambda n: bar.update(task, completed=n),
        )
        bar.update(task, completed=customers)
    write_population(population.events, population.accounts_rows(), out)
    roles: dict[str, int] = {}
    for c in population.customers:
        roles[c.role] = roles.get(c.role, 0) + 1
    err.print(
        f"{len(population.events):,} events, roles {roles} → {out}/events.jsonl, {out}/accounts.csv"
    )


def backtest(
    events: Annotated[Path, typer.Option(help="Events file (JSONL, CSV or Parquet)")],
    rules: Annotated[
        Path | None, typer.Option(help="Candidate rule set (default: built-in)")
    ] = None,
    baseline_rules: Annotated[Path | None, typer.Option(help="Baseline rule set")] = None,
    label_field: Annotated[str, typer.Option(help="Dotted path of the 0/1 fraud label")] = (
        "attributes.is_fraud"
    ),
    accounts: Annotated[Path | None, typer.Option(help="accounts.csv with customer roles")] = None,
    dissuasion_success_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.6,
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    interventions: Annotated[
        bool,
        typer.Option(
            "--interventions",
            help="Side by side: the rule set alone, and with challenges answered by the "
            "simulated customers (a simulator's month only: it needs the scenario attribute)",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulated customers' answers")] = 1,
) -> None:
    """Replay history through a rule set (and a baseline): recall, savings and friction."""
    from lendguard.simulate.backtest import run_backtest
    from lendguard.simulate.replay import ReplayError

    try:
        report = run_backtest(
            events,
            rules=rules,
            baseline_rules=baseline_rules,
            label_field=label_field,
            accounts=accounts,
            dissuasion_success_rate=dissuasion_success_rate,
            skip_bad=skip_bad,
            progress=not json_out,
            interventions=interventions,
            seed=seed,
        )
    except ReplayError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(dumps(report))


def demo(
    customers: Annotated[int, typer.Option(help="Simulated customers")] = 3_000,
    days: Annotated[int, typer.Option(help="Simulated days")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after the summary")
    ] = True,
    host: Annotated[str, typer.Option(help="Interface to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8000,
) -> None:
    """Simulate a month of lending with scams, replay it into var/demo.db, summarise, print the
    admin key and console users (kept in var/demo.env), then serve the API. Refuses at once
    when the port is taken or a server is running on var/demo.db."""
    from lendguard.simulate.demo import DemoRefused, run_demo

    try:
        run_demo(
            customers=customers, days=days, seed=seed, serve_api=serve_api, host=host, port=port
        )
    except DemoRefused as exc:
        raise fail(str(exc)) from None
