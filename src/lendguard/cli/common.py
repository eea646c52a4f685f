"""What every command group shares: JSON output, error exits and the audit actor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console

_T = TypeVar("_T")

# Notes, progress and warnings go to stderr so stdout stays the command's machine-readable answer.
err = Console(stderr=True)


def dumps(value: object) -> str:
    """Indented JSON, as every command prints its answer."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def answer_json_file(file: Path, answer: Callable[[Any], _T]) -> _T:
    """``answer`` the JSON in ``file``; an unreadable file, malformed JSON or invalid input
    prints a problem (naming the fields) on stderr and exits 2."""
    from lendguard.errors import LendGuardError

    try:
        return answer(orjson.loads(file.read_bytes()))
    except OSError as exc:
        typer.echo(dumps({"error": "unreadable file", "detail": f"{file}: {exc}"}), err=True)
        raise typer.Exit(2) from None
    except orjson.JSONDecodeError as exc:
        typer.echo(dumps({"error": "malformed JSON", "detail": str(exc)}), err=True)
        raise typer.Exit(2) from None
    except LendGuardError as exc:
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        typer.echo(dumps({"error": exc.title, "detail": exc.detail, "errors": errors}), err=True)
        raise typer.Exit(2) from None


def os_actor() -> str:
    """Who runs an administrative command, for the audit trail: ``os:<login name>``."""
    import getpass
    import os

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container user without a passwd entry)
        return f"os:uid-{os.getuid()}"


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned Exit (status 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def problem(exc: Any) -> str:
    """A LendGuardError as one line: the detail and each field's message."""
    fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return f"{exc.detail} ({fields})" if fields else str(exc.detail)
