"""``lendguard decide``: one event from stdin through the same services as the API."""

from __future__ import annotations

import sys

import orjson
import typer

from lendguard.cli.common import dumps
from lendguard.cli.factory import services


def decide() -> None:
    """Decide one event read as JSON from stdin; print the decision as JSON."""
    from lendguard.errors import LendGuardError
    from lendguard.events.parse import parse_event

    with services() as built:
        try:
            raw = orjson.loads(sys.stdin.buffer.read())
            decision = built.decisions.decide(parse_event(raw))
        except orjson.JSONDecodeError as exc:
            typer.echo(dumps({"error": "malformed JSON", "detail": str(exc)}), err=True)
            raise typer.Exit(2) from None
        except LendGuardError as exc:
            typer.echo(
                dumps(
                    {
                        "error": exc.title,
                        "detail": exc.detail,
                        "errors": [{"field": e.field, "message": e.message} for e in exc.errors],
                    }
                ),
                err=True,
            )
            raise typer.Exit(2) from None
    typer.echo(dumps(decision))
