"""The audit trail: verify its hash chain."""

from __future__ import annotations

from typing import Annotated

import typer

from lendguard.cli.common import dumps
from lendguard.cli.factory import migrated_engine

app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")


@app.command("verify")
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

    engine = migrated_engine()
    try:
        result = verify(engine, expect_head=expect_head)
    finally:
        engine.dispose()
    if json_out:
        typer.echo(dumps(result.as_dict()))
    elif result.ok:
        typer.echo(f"audit trail intact: {result.rows} rows, head {result.head}")
    else:
        where = f"row {result.first_bad_id}" if result.first_bad_id is not None else "the end"
        typer.echo(f"audit trail BROKEN at {where}: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)
