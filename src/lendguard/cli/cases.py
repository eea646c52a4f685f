"""Cases: file the decisions that have none yet."""

from __future__ import annotations

import typer

from lendguard.cli.common import dumps, os_actor
from lendguard.cli.factory import cases

app = typer.Typer(no_args_is_help=True, help="Cases.")


@app.command("sweep")
def cases_sweep() -> None:
    """File every intercept or block decision that has no case yet."""
    filed = cases().sweep(actor=os_actor())
    typer.echo(dumps({"filed": filed}))
