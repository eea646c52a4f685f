"""API keys: create, list, revoke and expire them (the secret is shown once)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lendguard.cli.common import dumps, err, fail, os_actor, problem
from lendguard.cli.factory import api_keys

app = typer.Typer(no_args_is_help=True, help="API keys.")


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _parse_expiry(expires_in: str | None, expires_at: str | None) -> Any:
    """The expiry ``--expires-in 30d`` (s, m, h, d, w) or ``--expires-at ISO`` (with a UTC
    offset) names, as an aware datetime; None for neither."""
    import re
    from datetime import UTC, datetime, timedelta

    if expires_in is not None and expires_at is not None:
        raise fail("give one of --expires-in and --expires-at")
    if expires_in is not None:
        match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", expires_in)
        if match is None or int(match.group(1)) == 0:
            raise fail(f"--expires-in {expires_in!r}: a positive count and s, m, h, d or w")
        seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        return datetime.now(UTC) + timedelta(seconds=seconds)
    if expires_at is not None:
        try:
            moment = datetime.fromisoformat(expires_at)
        except ValueError:
            raise fail(f"--expires-at {expires_at!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise fail(
                f"--expires-at {expires_at!r} needs a UTC offset, e.g. 2026-12-31T00:00:00+08:00"
            )
        return moment
    return None


@app.command("create")
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
    from lendguard.errors import LendGuardError

    expiry = _parse_expiry(expires_in, expires_at)
    service = api_keys()
    try:
        secret, key = service.issue(name, scopes.split(","), expires_at=expiry, actor=os_actor())
    except LendGuardError as exc:
        raise fail(problem(exc)) from None
    typer.echo(secret)
    until = f", expires {key['expires_at'].isoformat()}" if key["expires_at"] else ""
    err.print(f"key {key['id']} ({key['name']}: {','.join(key['scopes'])}{until})", markup=False)
    err.print("[yellow]Store this key now: it cannot be shown again.[/yellow]")


@app.command("list")
def apikeys_list() -> None:
    """Every key (id, name, scopes, state: active, expired or revoked, expiry); no secrets."""
    from lendguard.auth import audit

    service = api_keys()
    audit.record_read(service.db, os_actor(), "apikeys", "apikeys")
    typer.echo(dumps(service.list()))


@app.command("revoke")
def apikeys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikeys list)")],
) -> None:
    """Revoke a key for good: every running server refuses it within one second."""
    from lendguard.errors import LendGuardError

    try:
        typer.echo(dumps(api_keys().revoke(key_id, os_actor())))
    except LendGuardError as exc:
        raise fail(problem(exc)) from None


@app.command("expire")
def apikeys_expire(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikeys list)")],
    at: Annotated[
        str | None, typer.Option(help="When, ISO 8601 with a UTC offset (default: now)")
    ] = None,
) -> None:
    """Expire a key now or at a time (never later than an expiry it already has)."""
    from datetime import datetime

    from lendguard.errors import LendGuardError

    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise fail(f"--at {at!r} is not an ISO 8601 time") from None
    try:
        typer.echo(dumps(api_keys().expire(key_id, os_actor(), moment)))
    except LendGuardError as exc:
        raise fail(problem(exc)) from None
