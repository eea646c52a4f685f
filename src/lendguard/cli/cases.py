"""Cases: file the decisions that have none yet; release holds whose deadline passed."""

from __future__ import annotations

import typer

from lendguard.cli.common import dumps, os_actor
from lendguard.cli.factory import cases, migrated_engine

app = typer.Typer(no_args_is_help=True, help="Cases.")


@app.command("sweep")
def cases_sweep() -> None:
    """File every intercept or block decision that has no case yet, and release every held
    payment whose deadline has passed (a running server does the second on its own every
    minute; this is for a deployment without one, or to do it now)."""
    from lendguard.cases.service import CaseService
    from lendguard.cases.webhooks import WebhookSender
    from lendguard.config import get_settings

    filed = cases().sweep(actor=os_actor())
    settings = get_settings()
    engine = migrated_engine()
    # The lender's instruction for each released hold goes into the outbox here; a running
    # server's sender delivers it (no thread is started by this command).
    sender = WebhookSender(engine, settings.webhook_url, settings.webhook_secret)
    released = CaseService(engine, sender).release_due_holds(actor=os_actor())
    typer.echo(dumps({"filed": filed, "released": len(released)}))
