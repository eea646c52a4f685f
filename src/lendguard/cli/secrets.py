"""The server's secrets: fresh values for the keys it refuses to run without."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lendguard.cli.common import dumps, err

app = typer.Typer(no_args_is_help=True, help="The server's secrets.")


@app.command("generate")
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
        typer.echo(dumps(values) if json_out else as_dotenv(values), nl=json_out)
    err.print(
        "[yellow]Set these once per database: a new PII key no longer links new pseudonyms to "
        "old ones, and a new master key cannot unwrap the vault's data keys.[/yellow]"
    )
