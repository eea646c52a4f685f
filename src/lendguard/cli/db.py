"""Database migrations: ``lendguard db upgrade``."""

from __future__ import annotations

import typer

from lendguard.cli.common import err
from lendguard.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Database migrations.")


@app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to LENDGUARD_DATABASE_URL."""
    from lendguard.db import upgrade

    upgrade(get_settings().database_url, revision)
    err.print(f"[green]database at {revision}[/green]")
