"""Import history into the event format (PaySim, any CSV through a mapping)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lendguard.cli.common import dumps

app = typer.Typer(no_args_is_help=True, help="Import history into the event format.")


@app.command("paysim")
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
    typer.echo(dumps(report.as_dict()))


@app.command("csv")
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
    typer.echo(dumps(report.as_dict()))
