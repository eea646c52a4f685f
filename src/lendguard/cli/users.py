"""Console users: create one (the first admin, say)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lendguard.cli.common import dumps, err, os_actor
from lendguard.cli.factory import users

app = typer.Typer(no_args_is_help=True, help="Console users.")


@app.command("create")
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
    from lendguard.errors import LendGuardError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    service = users()
    try:
        user_id = service.create(username, password, role, locale, os_actor())
    except LendGuardError as exc:
        err.print(f"[red]{exc.detail}: {[f'{e.field}: {e.message}' for e in exc.errors]}[/red]")
        raise typer.Exit(2) from None
    typer.echo(dumps({"id": user_id, "username": username, "role": role}))
