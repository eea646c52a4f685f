"""``lendguard serve``: the API under uvicorn, after the start-up checks."""

from __future__ import annotations

from typing import Annotated

import typer

from lendguard.cli.common import err
from lendguard.config import get_settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[
        int, typer.Option(help="API processes (needs LENDGUARD_STATE_BACKEND=shared)")
    ] = 1,
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
    if workers > 1 and settings.state_backend != "shared":
        err.print(
            "[red]several workers need LENDGUARD_STATE_BACKEND=shared (one window state for "
            "every process)[/red]"
        )
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
