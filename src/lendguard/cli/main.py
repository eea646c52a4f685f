"""The ``lendguard`` command (Typer). Every sub-command calls the same services as the API."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console

from lendguard.cli.policies import app as policies_app
from lendguard.config import get_settings

_T = TypeVar("_T")

app = typer.Typer(no_args_is_help=True, help="LendGuard: consumer protection for digital lenders.")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
rules_app = typer.Typer(no_args_is_help=True, help="Rule sets.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(db_app, name="db")
app.add_typer(rules_app, name="rules")
app.add_typer(keys_app, name="apikeys")
import_app = typer.Typer(no_args_is_help=True, help="Import history into the event format.")
model_app = typer.Typer(no_args_is_help=True, help="Learned risk scores.")
app.add_typer(model_app, name="model")
app.add_typer(import_app, name="import")
app.add_typer(policies_app, name="policies")

err = Console(stderr=True)


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def _answer_json_file(file: Path, answer: Callable[[Any], _T]) -> _T:
    """``answer`` the JSON in ``file``; an unreadable file, malformed JSON or invalid input
    prints a problem (naming the fields) on stderr and exits 2."""
    from lendguard.errors import LendGuardError

    try:
        return answer(orjson.loads(file.read_bytes()))
    except OSError as exc:
        typer.echo(_dumps({"error": "unreadable file", "detail": f"{file}: {exc}"}), err=True)
        raise typer.Exit(2) from None
    except orjson.JSONDecodeError as exc:
        typer.echo(_dumps({"error": "malformed JSON", "detail": str(exc)}), err=True)
        raise typer.Exit(2) from None
    except LendGuardError as exc:
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        typer.echo(_dumps({"error": exc.title, "detail": exc.detail, "errors": errors}), err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to LENDGUARD_DATABASE_URL."""
    from lendguard.db import upgrade

    upgrade(get_settings().database_url, revision)
    err.print(f"[green]database at {revision}[/green]")


def os_actor() -> str:
    """Who runs an administrative command, for the audit trail: ``os:<login name>``."""
    import getpass
    import os

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container user without a passwd entry)
        return f"os:uid-{os.getuid()}"


def _fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned Exit (status 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _problem(exc: Any) -> str:
    """A LendGuardError as one line: the detail and each field's message."""
    fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return f"{exc.detail} ({fields})" if fields else str(exc.detail)


def _engine() -> Any:
    from lendguard.db import make_engine, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    return make_engine(settings.database_url)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _parse_expiry(expires_in: str | None, expires_at: str | None) -> Any:
    """The expiry ``--expires-in 30d`` (s, m, h, d, w) or ``--expires-at ISO`` (with a UTC
    offset) names, as an aware datetime; None for neither."""
    import re
    from datetime import UTC, datetime, timedelta

    if expires_in is not None and expires_at is not None:
        raise _fail("give one of --expires-in and --expires-at")
    if expires_in is not None:
        match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", expires_in)
        if match is None or int(match.group(1)) == 0:
            raise _fail(f"--expires-in {expires_in!r}: a positive count and s, m, h, d or w")
        seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        return datetime.now(UTC) + timedelta(seconds=seconds)
    if expires_at is not None:
        try:
            moment = datetime.fromisoformat(expires_at)
        except ValueError:
            raise _fail(f"--expires-at {expires_at!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise _fail(
                f"--expires-at {expires_at!r} needs a UTC offset, e.g. 2026-12-31T00:00:00+08:00"
            )
        return moment
    return None


@keys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key")],
    scopes: Annotated[str, typer.Option(help="Comma-separated scopes, e.g. events:write")],
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime: 90m, 12h, 30d, 2w (s, m, h, d, w)")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="Expiry as ISO 8601 with a UTC offset")
    ] = None,
) -> None:
    """Create an API key and print it once (it is stored hashed); its id goes to stderr."""
    from lendguard.auth.service import ApiKeyService
    from lendguard.errors import LendGuardError

    expiry = _parse_expiry(expires_in, expires_at)
    service = ApiKeyService(_engine())
    try:
        secret, key = service.issue(name, scopes.split(","), expires_at=expiry, actor=os_actor())
    except LendGuardError as exc:
        raise _fail(_problem(exc)) from None
    typer.echo(secret)
    until = f", expires {key['expires_at'].isoformat()}" if key["expires_at"] else ""
    err.print(f"key {key['id']} ({key['name']}: {','.join(key['scopes'])}{until})", markup=False)
    err.print("[yellow]Store this key now: it cannot be shown again.[/yellow]")


@keys_app.command("list")
def apikeys_list() -> None:
    """Every key (id, name, scopes, state: active, expired or revoked, expiry); no secrets."""
    from lendguard.auth import audit
    from lendguard.auth.service import ApiKeyService

    service = ApiKeyService(_engine())
    audit.record_read(service.db, os_actor(), "apikeys", "apikeys")
    typer.echo(_dumps(service.list()))


@keys_app.command("revoke")
def apikeys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikeys list)")],
) -> None:
    """Revoke a key for good: every running server refuses it within one second."""
    from lendguard.auth.service import ApiKeyService
    from lendguard.errors import LendGuardError

    try:
        typer.echo(_dumps(ApiKeyService(_engine()).revoke(key_id, os_actor())))
    except LendGuardError as exc:
        raise _fail(_problem(exc)) from None


@keys_app.command("expire")
def apikeys_expire(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikeys list)")],
    at: Annotated[
        str | None, typer.Option(help="When, ISO 8601 with a UTC offset (default: now)")
    ] = None,
) -> None:
    """Expire a key now or at a time (never later than an expiry it already has)."""
    from datetime import datetime

    from lendguard.auth.service import ApiKeyService
    from lendguard.errors import LendGuardError

    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise _fail(f"--at {at!r} is not an ISO 8601 time") from None
    try:
        typer.echo(_dumps(ApiKeyService(_engine()).expire(key_id, os_actor(), moment)))
    except LendGuardError as exc:
        raise _fail(_problem(exc)) from None


users_app = typer.Typer(no_args_is_help=True, help="Console users.")
labels_app = typer.Typer(no_args_is_help=True, help="Outcome labels for model training.")
cases_app = typer.Typer(no_args_is_help=True, help="Cases.")
app.add_typer(users_app, name="users")
app.add_typer(labels_app, name="labels")
app.add_typer(cases_app, name="cases")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name")],
    role: Annotated[str, typer.Option(help="analyst, approver, officer or admin")],
    locale: Annotated[str, typer.Option(help="Console language: zh-CN or en")] = "zh-CN",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a console user (the first admin, say). The password is prompted for, or read
    from standard input with --password-stdin; it is stored as an argon2 hash."""
    import sys

    from lendguard.auth import audit
    from lendguard.auth.users import UserService
    from lendguard.db import make_engine, upgrade
    from lendguard.errors import LendGuardError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    upgrade(settings.database_url)
    service = UserService(make_engine(settings.database_url))
    try:
        user_id = service.create(username, password, role, locale)
    except LendGuardError as exc:
        err.print(f"[red]{exc.detail}: {[f'{e.field}: {e.message}' for e in exc.errors]}[/red]")
        raise typer.Exit(2) from None
    audit.record_now(
        service.db, os_actor(), "users.create", f"user:{username}", None, {"role": role}
    )
    typer.echo(_dumps({"id": user_id, "username": username, "role": role}))


@labels_app.command("export")
def labels_export(
    out: Annotated[Path, typer.Option(help="CSV file to write: event_id,label")],
) -> None:
    """Write every known outcome label (resolved cases, POST /v1/labels) as event_id,label —
    the input of `lendguard model train --labels`. The latest label of an event wins."""
    import csv

    from sqlalchemy import select

    from lendguard.auth import audit
    from lendguard.db import make_engine, upgrade
    from lendguard.models import LabelRecord

    settings = get_settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    latest: dict[str, int] = {}
    with engine.connect() as conn:
        for event_id, label in conn.execute(
            select(LabelRecord.event_id, LabelRecord.label).order_by(LabelRecord.id)
        ):
            latest[event_id] = int(label)
    # a privileged read: recorded before the data leaves (no entry, no file)
    audit.record_read(
        engine, os_actor(), "labels_export", "labels", None, {"rows": len(latest), "out": str(out)}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "label"])
        writer.writerows(sorted(latest.items()))
    err.print(f"{len(latest)} labels written to {out}")


@cases_app.command("sweep")
def cases_sweep() -> None:
    """File every intercept or block decision that has no case yet."""
    from lendguard.auth import audit
    from lendguard.cases.service import CaseService
    from lendguard.db import make_engine, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    cases = CaseService(make_engine(settings.database_url))
    filed = cases.sweep()
    audit.record_now(cases.db, os_actor(), "cases.sweep", "cases", None, {"filed": filed})
    typer.echo(_dumps({"filed": filed}))


@rules_app.command("check")
def rules_check(file: Path) -> None:
    """Validate a rule-set file; problems are printed as file:line:column: message."""
    from lendguard.decisions.rules.loader import RuleSetError, load_ruleset_file

    try:
        ruleset = load_ruleset_file(file)
    except RuleSetError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"{file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: ok, {len(ruleset.rules)} rules, {len(ruleset.feature_names)} features")


@rules_app.command("lint")
def rules_lint(
    file: Annotated[
        Path | None, typer.Argument(help="A rule-set file; none: every shipped rule set")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON")] = False,
) -> None:
    """Check what a customer would read: every active rule's reason has a zh-CN and en customer
    sentence, and no message or sentence quotes a requirement id, an internal snake_case name,
    the word "placeholder" or Latin words in Chinese. Exit 1 on any finding (the upload API
    refuses the same findings)."""
    from lendguard.decisions.rules.lint import (
        lint_catalogue,
        lint_ruleset,
        shipped_rulesets,
    )
    from lendguard.decisions.rules.loader import RuleSetError, load_ruleset_file

    files = [file] if file is not None else shipped_rulesets()
    findings = [] if file is not None else lint_catalogue()
    problems: list[str] = []
    for path in files:
        try:
            findings += lint_ruleset(load_ruleset_file(path), str(path))
        except RuleSetError as exc:
            problems += [str(p) for p in exc.problems]
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
        except UnicodeDecodeError as exc:  # saved as UTF-16 or GBK: a problem, not a traceback
            problems.append(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
    if as_json:
        typer.echo(
            _dumps(
                {
                    "files": [str(p) for p in files],
                    "findings": [f.as_dict() for f in findings],
                    "problems": problems,
                }
            )
        )
    else:
        for line in problems + [str(f) for f in findings]:
            typer.echo(line, err=True)
        if not problems and not findings:
            typer.echo(f"{', '.join(str(p) for p in files)}: no findings")
    if problems or findings:
        raise typer.Exit(1)


@app.command()
def decide() -> None:
    """Decide one event read as JSON from stdin; print the decision as JSON."""
    from lendguard.app import build_services
    from lendguard.errors import LendGuardError
    from lendguard.events.parse import parse_event

    services = build_services(get_settings())
    try:
        raw = orjson.loads(sys.stdin.buffer.read())
        decision = services.decisions.decide(parse_event(raw))
    except orjson.JSONDecodeError as exc:
        typer.echo(_dumps({"error": "malformed JSON", "detail": str(exc)}), err=True)
        raise typer.Exit(2) from None
    except LendGuardError as exc:
        typer.echo(
            _dumps(
                {
                    "error": exc.title,
                    "detail": exc.detail,
                    "errors": [{"field": e.field, "message": e.message} for e in exc.errors],
                }
            ),
            err=True,
        )
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(_dumps(decision))


@app.command()
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
        typer.echo(_dumps(summary.as_dict()))
    else:
        summary.print(Console())


@app.command()
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


@app.command()
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
        )
    except ReplayError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(_dumps(report))


@import_app.command("paysim")
def import_paysim_command(
    file: Path,
    out: Annotated[Path, typer.Option(help="Events JSONL to write")],
    drop_balances: Annotated[bool, typer.Option(help="Leave out the four balance columns")] = False,
    start: Annotated[str, typer.Option(help="Time of step 1 (ISO 8601 with offset)")] = (
        "2024-01-01T00:00:00+08:00"
    ),
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
) -> None:
    """Map a PaySim CSV to events (JSONL, time order)."""
    from lendguard.events.imports import ImportError_, import_paysim

    try:
        report = import_paysim(
            file, out, drop_balances=drop_balances, start=start, skip_bad=skip_bad
        )
    except (ImportError_, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(_dumps(report.as_dict()))


@import_app.command("csv")
def import_csv_command(
    file: Path,
    mapping: Annotated[Path, typer.Option(help="YAML mapping of event fields to columns")],
    out: Annotated[Path, typer.Option(help="Events JSONL to write")],
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
) -> None:
    """Map any CSV to events through a small mapping file."""
    from lendguard.events.imports import ImportError_, import_mapped_csv

    try:
        report = import_mapped_csv(file, mapping, out, skip_bad=skip_bad)
    except (ImportError_, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(_dumps(report.as_dict()))


@model_app.command("train")
def model_train(
    out: Annotated[Path, typer.Option(help="Folder to write the model into")],
    events: Annotated[Path | None, typer.Option(help="Event history (JSONL/CSV/Parquet)")] = None,
    label_field: Annotated[str, typer.Option(help="Dotted path of the 0/1 label")] = (
        "attributes.is_fraud"
    ),
    labels: Annotated[Path | None, typer.Option(help="CSV event_id,label (later labels)")] = None,
    train_until: Annotated[str | None, typer.Option(help="Fit on events before (ISO)")] = None,
    eval_from: Annotated[str | None, typer.Option(help="Validate on events from (ISO)")] = None,
    reveal_delay_hours: Annotated[float, typer.Option(help="Hours until a label is known")] = 0.0,
    table: Annotated[Path | None, typer.Option(help="A table (CSV, zipped CSV, Parquet)")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of --table")] = None,
    id_column: Annotated[str | None, typer.Option(help="Row id column (not a feature)")] = None,
    valid_size: Annotated[
        float | None, typer.Option(help="Validation share for --table (default 0.2)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    cv: Annotated[
        int | None,
        typer.Option(
            help="--table: seeded stratified K-fold cross-validation (K >= 2) in the card, "
            "then the final model on all rows"
        ),
    ] = None,
) -> None:
    """Train a calibrated LightGBM score on event history or on a table; print the card."""
    from lendguard.decisions.scoring.model import ModelError

    try:
        if (events is None) == (table is None):
            raise ModelError("give either --events or --table")
        if cv is not None and table is None:
            raise ModelError("--cv needs --table")
        if cv is not None and valid_size is not None:
            raise ModelError(
                "give either --cv or --valid-size: with --cv the held-out folds are the "
                "validation and the final model is fitted on all rows"
            )
        if events is not None:
            from lendguard.decisions.scoring.events import train_events

            card = train_events(
                events,
                out,
                label_field=label_field,
                labels_file=labels,
                train_until=train_until,
                eval_from=eval_from,
                reveal_delay_s=reveal_delay_hours * 3600,
                seed=seed,
            )
        else:
            if label is None:
                raise ModelError("--table needs --label COLUMN")
            from lendguard.decisions.scoring.table import train_table

            assert table is not None
            card = train_table(
                table,
                label,
                out,
                id_column=id_column,
                valid_size=0.2 if valid_size is None else valid_size,
                seed=seed,
                cv=cv,
            )
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if "cross_validation" in card:
        from lendguard.decisions.scoring.table import cross_validation_table

        err.print(cross_validation_table(card["cross_validation"]))
    typer.echo(_dumps(card))


@model_app.command("evaluate")
def model_evaluate(
    model: Annotated[Path, typer.Option(help="Model folder")],
    events: Annotated[Path | None, typer.Option(help="Event history to score")] = None,
    label_field: Annotated[str, typer.Option(help="Dotted path of the 0/1 label")] = (
        "attributes.is_fraud"
    ),
    eval_from: Annotated[str | None, typer.Option(help="Score events from (ISO)")] = None,
    table: Annotated[Path | None, typer.Option(help="A table to score")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of --table")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = True,
) -> None:
    """ROC-AUC, AUPRC and recall at 0.1% and 1% false-positive rate, as one JSON object, with
    ``in_sample`` (and a note on stderr) when the rows scored include the model's training rows."""
    from lendguard.decisions.scoring.model import ModelError

    try:
        if (events is None) == (table is None):
            raise ModelError("give either --events or --table")
        if events is not None:
            from lendguard.decisions.scoring.events import evaluate_events

            result = evaluate_events(model, events, label_field, eval_from, progress=False)
        else:
            if label is None:
                raise ModelError("--table needs --label COLUMN")
            from lendguard.decisions.scoring.table import evaluate_table

            assert table is not None
            result = evaluate_table(model, table, label)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    scored = events if events is not None else table
    assert scored is not None
    why = _in_sample(model, scored, eval_from)
    result = {**result, "in_sample": why is not None}
    if why is not None:
        result["in_sample_note"] = why
        typer.echo(f"note: these figures are in-sample: {why}", err=True)
    typer.echo(orjson.dumps(result).decode() if json_out else _dumps(result))


def _in_sample(model: Path, scored: Path, eval_from: str | None) -> str | None:
    """Why figures of ``model`` on ``scored`` are in-sample (flattering: the model has seen
    those rows), or None. The card records the training file's SHA-256; an event model held
    out the events from its ``eval_from``, so scoring only those is out of sample."""
    import hashlib
    from datetime import UTC, datetime

    from lendguard.decisions.scoring.model import CARD_FILE

    try:
        card = orjson.loads((model / CARD_FILE).read_bytes())
        trained_on = card["source"]["sha256"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None  # a card without its source (older models): nothing to compare
    digest = hashlib.sha256()
    with scored.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != trained_on:
        return None
    held_out = (card.get("data_range") or {}).get("eval_from")
    if card.get("kind") != "events" or held_out is None:
        return (
            f"{scored.name} is the file the model was trained on (most of its rows fitted the "
            "model); the card's metrics are its held-out figures"
        )

    def instant(text: str) -> datetime:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    if eval_from is not None and instant(eval_from) >= instant(held_out):
        return None
    return (
        f"{scored.name} is the file the model was trained on, and events before {held_out} "
        f"fitted and calibrated it; score from --eval-from {held_out} (the held-out part) or "
        "on another file for figures it has not seen"
    )


@model_app.command("monitor")
def model_monitor(
    model: Annotated[Path, typer.Option(help="Model folder")],
    events: Annotated[Path, typer.Option(help="Recent traffic (JSONL/CSV/Parquet)")],
    threshold: Annotated[float, typer.Option(help="PSI above which a day alerts")] = 0.2,
) -> None:
    """Daily population stability (PSI) of the score and top features; exit 1 on an alert."""
    from lendguard.decisions.scoring.events import monitor_events
    from lendguard.decisions.scoring.model import ModelError

    try:
        report = monitor_events(model, events, threshold, progress=False)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(_dumps(report))
    if report["alerts"]:
        raise typer.Exit(1)


@model_app.command("register")
def model_register(directory: Path) -> None:
    """Store a trained model folder as a new, inactive version (activate it over the API, as
    someone other than the operating-system user who registered it)."""
    from lendguard.app import build_services
    from lendguard.auth import audit
    from lendguard.decisions.scoring.model import ModelError, ScoringModel
    from lendguard.errors import LendGuardError

    try:
        booster, calibration, card = ScoringModel.load(directory).parts()
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    services = build_services(get_settings())
    actor = os_actor()
    try:
        registered = services.decisions.register_model(booster, calibration, card, actor)
        audit.record_now(
            services.decisions.db, actor, "models.register", f"model:{registered['version']}"
        )
        typer.echo(_dumps(registered))
    except LendGuardError as exc:
        typer.echo(f"error: {exc.detail}: {[e.message for e in exc.errors]}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (needs Redis state)")] = 1,
) -> None:
    """Apply migrations and serve the API (OpenAPI at /docs). Refuses to start while the PII
    key, the vault master key or (with a webhook URL) the webhook secret is built-in."""
    import uvicorn

    from lendguard.auth.secret_settings import default_secrets, refusal_message
    from lendguard.db import safe_url, unreachable_reason, upgrade

    settings = get_settings()
    problems = default_secrets(settings)
    if problems:
        typer.echo(refusal_message(problems), err=True)
        raise typer.Exit(2)
    unreachable = unreachable_reason(settings.database_url)
    if unreachable is not None:
        typer.echo(
            f"lendguard: cannot reach the database at {safe_url(settings.database_url)} "
            f"(LENDGUARD_DATABASE_URL): {unreachable}",
            err=True,
        )
        raise typer.Exit(2)
    if settings.state_backend == "redis" and settings.redis_url:
        import redis

        try:
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            shown = safe_url(settings.redis_url) if "://" in settings.redis_url else "(set)"
            typer.echo(
                f"lendguard: cannot reach Redis at {shown} (LENDGUARD_REDIS_URL): {exc}", err=True
            )
            raise typer.Exit(2) from None
    if workers > 1 and settings.state_backend != "redis":
        err.print("[red]several workers need LENDGUARD_STATE_BACKEND=redis[/red]")
        raise typer.Exit(2)
    from contextlib import ExitStack

    from lendguard.kit.serverlock import DatabaseInUse, holding

    with ExitStack() as stack:
        try:
            # Shared with other servers on the file; `lendguard demo` refuses to delete it
            # while any holds it (SQLite only: nothing deletes a PostgreSQL database).
            stack.enter_context(holding(settings.database_url, exclusive=False))
        except DatabaseInUse:
            typer.echo(
                f"lendguard: {safe_url(settings.database_url)} is being rebuilt by "
                "lendguard demo: serve it once the demo has finished",
                err=True,
            )
            raise typer.Exit(2) from None
        upgrade(settings.database_url)
        uvicorn.run(
            "lendguard.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )


@app.command()
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
        raise _fail(str(exc)) from None


secrets_app = typer.Typer(no_args_is_help=True, help="The server's secrets.")
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("generate")
def secrets_generate(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write a new .env file (mode 0600) instead; never overwrites one"),
    ] = None,
) -> None:
    """Print fresh values for LENDGUARD_PII_KEY, LENDGUARD_MASTER_KEY and
    LENDGUARD_WEBHOOK_SECRET as NAME=value lines (a .env file) or JSON."""
    from lendguard.auth.secret_settings import as_dotenv, generate_secrets, write_private

    values = generate_secrets()
    if out is not None:
        if out.exists():
            err.print(f"[red]{out} exists: not overwriting secrets that may be in use[/red]")
            raise typer.Exit(2)
        write_private(out, as_dotenv(values))
        err.print(f"{', '.join(values)} written to {out} (mode 0600)")
    else:
        typer.echo(_dumps(values) if json_out else as_dotenv(values), nl=json_out)
    err.print(
        "[yellow]Set these once per database: a new PII key no longer links new pseudonyms to "
        "old ones, and a new master key cannot unwrap the vault's data keys.[/yellow]"
    )


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="Events in the workload")] = 20_000,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    http: Annotated[bool, typer.Option("--http/--no-http", help="Include the HTTP runs")] = True,
) -> None:
    """Measure engine-only, in-process and HTTP throughput and latency."""
    from lendguard.benchmark import run_benchmarks

    result = run_benchmarks(n_events=events, include_http=http, progress=not json_out)
    typer.echo(_dumps(result) if json_out else _dumps(result))


lending_app = typer.Typer(no_args_is_help=True, help="Lending: APR, cost of credit, offers.")
app.add_typer(lending_app, name="lending")


@lending_app.command("apr")
def lending_apr(
    file: Annotated[Path, typer.Argument(help="One schedule, a list, or {KEY: [schedules]}")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """APR of each schedule: Appendix J actuarial, and China's annualised IRR (simple 单利 and
    compound 复利) with fees and withheld amounts. Exit code 2 on bad input."""
    from rich.table import Table

    from lendguard.lending.apr import apr_answers

    answers = _answer_json_file(file, apr_answers)
    if json_out:
        typer.echo(_dumps(answers))
        return
    table = Table(
        title="APR % — App. J: Appendix J actuarial; IRR per unit period annualised "
        "单利 simple (r×k) and 复利 compound ((1+r)^k−1)"
    )
    table.add_column("id", min_width=6, overflow="fold")
    for header in ("App. J", "IRR/unit", "单利", "复利", "R21"):
        table.add_column(header, no_wrap=True, justify="left" if header == "R21" else "right")
    notes = []
    for a in answers:
        check = a.get("tolerance")
        verdict = ""
        if check is not None:
            verdict = f"{'ok' if check['ok'] else 'out'} ±{check['tolerance_points']}"
            if not check["ok"]:
                notes.append(
                    f"{a['id']}: {check['code']} (disclosed {check['disclosed_apr_percent']}, "
                    f"exact {check['exact_apr_percent']:.4f})"
                )
        table.add_row(
            a["id"],
            *(f"{a[k]:.4f}" for k in ("apr_percent", "irr_periodic", "apr_simple", "apr_compound")),
            verdict,
        )
    console = Console()
    console.print(table)
    for note in notes:
        console.print(note, soft_wrap=True)


keys_vault_app = typer.Typer(no_args_is_help=True, help="Encryption keys of the PII vault.")
app.add_typer(keys_vault_app, name="keys")


def _vault() -> Any:
    from lendguard.db import make_engine, upgrade
    from lendguard.privacy.vault import Vault, master_key_from

    settings = get_settings()
    upgrade(settings.database_url)
    return Vault(
        make_engine(settings.database_url),
        master_key_from(settings.master_key, settings.pii_key),
        settings.pii_key.encode(),
    )


@keys_vault_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(help="Rows re-encrypted per transaction")] = 500,
) -> None:
    """Make a new data key active and re-encrypt every vault row under it, batch by batch,
    while the service keeps running (each row names its key version); retire the old keys.
    Running servers write under the new key from their next write on."""
    from lendguard.auth import audit

    vault = _vault()
    result = vault.rotate(batch=batch)
    audit.record_now(
        vault.db, os_actor(), "keys.rotate", f"vault:key:{result['active_version']}", None, result
    )
    typer.echo(_dumps(result))


@keys_vault_app.command("list")
def keys_list() -> None:
    """Data-key versions, their state and how many rows each encrypts."""
    from lendguard.auth import audit

    vault = _vault()
    versions = vault.key_versions()
    audit.record_read(vault.db, os_actor(), "vault_keys", "vault")
    typer.echo(_dumps(versions))


@lending_app.command("check-offer")
def lending_check_offer(
    file: Annotated[Path, typer.Argument(help="A loan offer, product card or ad (JSON)")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """Check an offer against R1–R9, R11, R13 and R21: its true cost and every finding with
    the policy and source behind it. Exit code 1 when there are findings, 2 on bad input."""
    from lendguard.lending.offers import check

    answer = _answer_json_file(file, check)
    if json_out:
        typer.echo(_dumps(answer))
    else:
        console = Console()
        cost = answer["cost"]
        console.print(
            f"[bold]{answer['id']}[/bold] ({answer['jurisdiction']}, policy "
            f"{answer['policy_version']}): all-in {cost['apr_simple']:.2f}% simple (单利), "
            f"{cost['apr_compound']:.2f}% compound (复利); Appendix J {cost['apr_percent']:.2f}%"
        )
        for finding in answer["findings"]:
            console.print(
                f"  [red]{finding['code']}[/red] ({finding['requirement']}): {finding['message']}",
                soft_wrap=True,
            )
        if not answer["findings"]:
            console.print("  [green]no findings[/green]")
    if answer["findings"]:
        raise typer.Exit(1)


audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="A head hash from an earlier run: it must still be in the chain "
            "(catches rows cut off the end)"
        ),
    ] = None,
) -> None:
    """Recompute the audit trail's hash chain: exit 0 when intact, 1 naming the first edited or
    deleted row."""
    from lendguard.auth.audit import verify
    from lendguard.db import make_engine, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        result = verify(engine, expect_head=expect_head)
    finally:
        engine.dispose()
    if json_out:
        typer.echo(_dumps(result.as_dict()))
    elif result.ok:
        typer.echo(f"audit trail intact: {result.rows} rows, head {result.head}")
    else:
        where = f"row {result.first_bad_id}" if result.first_bad_id is not None else "the end"
        typer.echo(f"audit trail BROKEN at {where}: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)


pii_app = typer.Typer(
    no_args_is_help=True, help="Personal information in text: find it, mask it (stdin or --file)."
)
app.add_typer(pii_app, name="pii")


def _pii_lines(file: Path | None) -> list[str]:
    """The lines of ``file`` (UTF-8, terminators dropped); ``[]`` for standard input, which
    the commands stream line by line instead."""
    if file is None:
        return []
    try:
        return file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        typer.echo(_dumps({"error": "unreadable file", "detail": f"{file}: {exc}"}), err=True)
        raise typer.Exit(2) from None


def _pii_types(types: str | None) -> list[str] | None:
    from lendguard.privacy.pii import ENTITY_TYPES

    if types is None:
        return None
    chosen = [t.strip().upper() for t in types.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in ENTITY_TYPES]
    if unknown:
        typer.echo(
            _dumps({"error": "unknown entity types", "detail": unknown, "known": ENTITY_TYPES}),
            err=True,
        )
        raise typer.Exit(2)
    return chosen


@pii_app.command("scan")
def pii_scan(
    file: Annotated[Path | None, typer.Option(help="Read lines from this file (UTF-8)")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help='One JSON line per input line: {"entities": [...]}')
    ] = False,
    types: Annotated[
        str | None, typer.Option(help="Comma-separated entity types (default: all)")
    ] = None,
) -> None:
    """Find resident IDs, mobile numbers, bank cards, e-mail and IP addresses, SSNs and NINOs in
    each input line. --json writes the raw findings (type, start, end, text, score; offsets in
    code points); the readable form shows each finding masked."""
    from lendguard.privacy.pii import mask_value, scan, stdin_lines

    chosen = _pii_types(types)
    lines = _pii_lines(file) if file is not None else stdin_lines()
    for number, line in enumerate(lines, start=1):
        entities = scan(line, chosen)
        if json_out:
            typer.echo(orjson.dumps({"entities": [e.as_dict() for e in entities]}).decode())
            continue
        for e in entities:
            typer.echo(
                f"{number}:{e.start}-{e.end} {e.type} {e.score:.2f} {mask_value(e.type, e.text)}"
            )


@pii_app.command("mask")
def pii_mask(
    file: Annotated[Path | None, typer.Option(help="Read lines from this file (UTF-8)")] = None,
    operator: Annotated[
        str,
        typer.Option(help="mask (138****5678), hash (keyed HMAC token) or encrypt (AES-GCM)"),
    ] = "mask",
    types: Annotated[
        str | None, typer.Option(help="Comma-separated entity types (default: all)")
    ] = None,
) -> None:
    """Write each input line with its personal information masked, hashed or encrypted (keys
    from LENDGUARD_PII_KEY)."""
    from lendguard.privacy.pii import OPERATORS, PiiMasker, as_operator, stdin_lines

    try:
        op = as_operator(operator)
    except ValueError:
        error = {"error": "unknown operator", "detail": operator, "known": OPERATORS}
        typer.echo(_dumps(error), err=True)
        raise typer.Exit(2) from None
    chosen = _pii_types(types)
    masker = PiiMasker(get_settings().pii_key)
    lines = _pii_lines(file) if file is not None else stdin_lines()
    for line in lines:
        typer.echo(masker.apply(line, op, chosen)[0])


complaints_app = typer.Typer(
    no_args_is_help=True, help="Complaints: the taxonomy classifier (train, evaluate, classify)."
)
app.add_typer(complaints_app, name="complaints")


@complaints_app.command("train")
def complaints_train(
    data: Annotated[Path, typer.Option(help="CFPB complaints CSV (standard 18-column export)")],
    out: Annotated[Path, typer.Option(help="Model folder to write")],
    test_size: Annotated[float, typer.Option(help="Held-out share")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed of the split and the model")] = 0,
    limit: Annotated[int | None, typer.Option(help="Use only the first N usable rows")] = None,
) -> None:
    """TF-IDF + linear model for product and issue on the narratives; prints the card with the
    held-out accuracy and macro-F1."""
    from lendguard.support.taxonomy import TaxonomyError, train

    try:
        card = train(data, out, test_size=test_size, seed=seed, limit=limit)
    except TaxonomyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    card.pop("held_out_ids", None)
    typer.echo(_dumps(card))


@complaints_app.command("evaluate")
def complaints_evaluate(
    model: Annotated[Path, typer.Option(help="Model folder")],
    data: Annotated[Path, typer.Option(help="The CSV it was trained from")],
    all_rows: Annotated[
        bool, typer.Option("--all", help="Score every usable row, not only the held-out ones")
    ] = False,
) -> None:
    """Accuracy and macro-F1 of product and issue on the model's held-out rows, next to the
    rule-based fallback's."""
    from lendguard.support.taxonomy import TaxonomyError, evaluate

    try:
        result = evaluate(model, data, all_rows=all_rows)
    except TaxonomyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(_dumps(result))


@complaints_app.command("classify")
def complaints_classify(
    text: Annotated[str, typer.Argument(help="A complaint narrative")],
    model: Annotated[Path | None, typer.Option(help="Model folder (default: configured)")] = None,
) -> None:
    """Product and issue of one narrative (the model, or the rules without one)."""
    from lendguard.support.taxonomy import ComplaintClassifier, load_taxonomy

    classifier = ComplaintClassifier.configured(load_taxonomy(), model)
    typer.echo(_dumps(classifier.classify(text).as_dict()))


# -- the agent assistant ------------------------------------------------------------------------

assistant_app = typer.Typer(
    no_args_is_help=True,
    help="Agent assistant: intents, knowledge-base answers, scam and vulnerability cues.",
)
app.add_typer(assistant_app, name="assistant")


@assistant_app.command("train")
def assistant_train(
    intents: Annotated[Path, typer.Option(help="UTF-8 CSV with columns text, category")],
    out: Annotated[Path, typer.Option(help="Folder to write the trained models to")],
    embeddings: Annotated[
        str,
        typer.Option(
            help="none (pure TF-IDF, default), frozen or finetune (all-MiniLM-L6-v2 on the "
            "CPU; needs the [assistant-embeddings] extra)"
        ),
    ] = "none",
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs (--embeddings finetune)")] = 3,
    lending: Annotated[
        bool, typer.Option(help="Add the shipped lending intents (zh-CN and en)")
    ] = True,
    coverage: Annotated[
        float, typer.Option(help="Share of in-scope questions the gate keeps answering")
    ] = 0.95,
    scam_texts: Annotated[
        Path | None,
        typer.Option(
            help="Also train the scam-text model: a folder of label0X-last.csv files "
            "(content,label; label 0 normal) or one CSV with text,label"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split")] = 1,
) -> None:
    """Train the intent model (with an out-of-scope class and a margin gate) into --out."""
    from lendguard.support import intents as intent_models
    from lendguard.support.assistant import save_scam_model, scam_corpus, scam_training_extras
    from lendguard.support.cues import ScamTextModel

    if embeddings not in ("none", "frozen", "finetune"):
        err.print("[red]--embeddings must be none, frozen or finetune[/red]")
        raise typer.Exit(2)
    try:
        examples = intent_models.read_examples(intents)
    except (OSError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None

    def progress(epoch: int, step: int, steps: int, loss: float) -> None:
        err.print(f"fine-tuning: epoch {epoch + 1}/{epochs}, step {step}/{steps}, loss {loss:.3f}")

    try:
        model, card = intent_models.train(
            examples,
            include_lending=lending,
            embeddings=embeddings,
            epochs=epochs,
            coverage_target=coverage,
            seed=seed,
            progress=progress,
        )
    except intent_models.EmbeddingsUnavailable as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    if scam_texts is not None:
        texts, labels = scam_corpus(scam_texts)
        extra_normal, extra_scam = scam_training_extras()
        save_scam_model(ScamTextModel().fit(texts, labels, extra_normal, extra_scam), out)
        card["scam_model"] = {
            "rows": len(texts),
            "extra_normal": len(extra_normal),
            "extra_scam": len(extra_scam),
        }
    intent_models.save(model, card, out)
    typer.echo(_dumps(card))


@assistant_app.command("evaluate")
def assistant_evaluate(
    model: Annotated[Path, typer.Option(help="A folder written by `assistant train`")],
    intents: Annotated[Path, typer.Option(help="UTF-8 CSV with columns text, category")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Top-1 accuracy over the file's labels (abstention off), macro F1, and the gate's coverage
    and answered precision (abstention on)."""
    from lendguard.support import intents as intent_models

    try:
        loaded = intent_models.load(model, threads=None)
        examples = intent_models.read_examples(intents)
        figures = intent_models.evaluate(loaded, examples)
    except (OSError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(_dumps(figures))
        return
    for key, value in figures.items():
        typer.echo(f"{key}: {value}")


@assistant_app.command("analyze")
def assistant_analyze(
    texts: Annotated[Path, typer.Option(help="UTF-8 CSV with the messages")],
    column: Annotated[str, typer.Option(help="The column holding the text")],
    out: Annotated[Path, typer.Option(help="JSON Lines output, one line per row, in order")],
    model: Annotated[
        Path | None,
        typer.Option(help="Trained folder (default: LENDGUARD_ASSISTANT_MODEL_DIR, else built-in)"),
    ] = None,
) -> None:
    """Write intent, scam_cue, scam_score, scam_type and vulnerability for every row."""
    from lendguard.support.assistant import get_assistant, load_texts

    try:
        rows = load_texts(texts, column)
    except (OSError, ValueError) as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    folder = model if model is not None else get_settings().assistant_model_dir
    assistant = get_assistant(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    flagged = 0
    with open(out, "wb") as handle:
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            for text, analysis in zip(
                chunk, assistant.analyze_many([t or " " for t in chunk]), strict=True
            ):
                line = analysis.row() if text.strip() else _empty_row()
                flagged += bool(line["scam_cue"])
                handle.write(orjson.dumps(line) + b"\n")
    err.print(f"{len(rows)} rows → {out} ({flagged} with a scam cue; models: {assistant.models})")


def _empty_row() -> dict[str, Any]:
    return {
        "intent": None,
        "abstained": True,
        "scam_cue": False,
        "scam_score": 0.0,
        "scam_type": "other",
        "vulnerability": [],
        "complaint": False,
    }


if __name__ == "__main__":
    app()


graph_app = typer.Typer(no_args_is_help=True, help="Entity-link graph: rings and mules.")
app.add_typer(graph_app, name="graph")


def _graph_from(events: Path, skip_bad: bool) -> tuple[Any, list[Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from lendguard.events.readers import BadRowError
    from lendguard.graph.batch import rebuild

    err = Console(stderr=True)
    with Progress(
        TextColumn("linking events"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("link", total=None)
        try:
            return rebuild(
                events, on_progress=lambda n: bar.update(task, completed=n), skip_bad=skip_bad
            )
        except BadRowError as exc:
            typer.echo(f"{exc} (nothing was built; use --skip-bad to skip bad rows)", err=True)
            raise typer.Exit(1) from None
        except (OSError, ValueError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None


@graph_app.command("rebuild")
def graph_rebuild(
    events: Annotated[Path, typer.Option(help="History (JSONL, CSV or Parquet)")],
    out: Annotated[Path, typer.Option(help="Folder for rings.json and mules.csv")] = Path(
        "var/graph"
    ),
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Build the link graph from history, find rings and mules, write them to OUT."""
    import csv
    import time

    from lendguard.graph.rings import detect

    started = time.perf_counter()
    index, bad = _graph_from(events, skip_bad)
    linked = time.perf_counter() - started
    found = detect(index)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rings.json").write_bytes(
        orjson.dumps([r.as_dict() for r in found.rings], option=orjson.OPT_INDENT_2)
    )
    with (out / "mules.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "peak_mule_score"])
        for customer, score in sorted(found.mules.items(), key=lambda kv: (-kv[1], kv[0])):
            writer.writerow([customer, score])
    summary = {
        "events": index.events,
        "customers": len(index.customer_entities),
        "entities": len(index.entities),
        "rings": len(found.rings),
        "ring_members": len(found.ring_members),
        "mules": len(found.mules),
        "communities": found.communities,
        "skipped_rows": [str(b) for b in bad],
        "link_seconds": round(linked, 2),
        "detect_seconds": round(time.perf_counter() - started - linked, 2),
        "out": str(out),
    }
    if json_out:
        typer.echo(_dumps(summary))
    else:
        Console().print(summary)


@graph_app.command("evaluate")
def graph_evaluate(
    events: Annotated[Path, typer.Option(help="History (JSONL, CSV or Parquet)")],
    accounts: Annotated[Path, typer.Option(help="accounts.csv with role and ring_id")],
    skip_bad: Annotated[bool, typer.Option(help="Skip malformed rows instead of stopping")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
) -> None:
    """Ring-member and mule precision and recall per customer against the simulator's truth."""
    from lendguard.graph.batch import evaluate
    from lendguard.graph.rings import detect

    index, _ = _graph_from(events, skip_bad)
    try:
        figures = evaluate(detect(index), accounts)
    except (OSError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if json_out:
        typer.echo(_dumps(figures))
    else:
        Console().print(figures)
