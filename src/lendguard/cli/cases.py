"""Cases: file the decisions that have none yet."""

from __future__ import annotations

import typer

from lendguard.cli.common import dumps, os_actor
from lendguard.cli.factory import cases

app = typer.Typer(no_args_is_help=True, help="Cases.")


@app.command("sweep")
def cases_sweep() -> None:
    """File every intercept or block decision that has no case yet."""
    from lendguard.auth import audit

    service = cases()
    filed = service.sweep()
    audit.record_now(service.db, os_actor(), "cases.sweep", "cases", None, {"filed": filed})
    typer.echo(dumps({"filed": filed}))
