"""Personal information in text: scan and mask lines from stdin or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from lendguard.cli.common import dumps
from lendguard.config import get_settings

app = typer.Typer(
    no_args_is_help=True, help="Personal information in text: find it, mask it (stdin or --file)."
)


def _pii_lines(file: Path | None) -> list[str]:
    """The lines of ``file`` (UTF-8, terminators dropped); ``[]`` for standard input, which
    the commands stream line by line instead."""
    if file is None:
        return []
    try:
        return file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        typer.echo(dumps({"error": "unreadable file", "detail": f"{file}: {exc}"}), err=True)
        raise typer.Exit(2) from None


def _pii_types(types: str | None) -> list[str] | None:
    from lendguard.privacy.pii import ENTITY_TYPES

    if types is None:
        return None
    chosen = [t.strip().upper() for t in types.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in ENTITY_TYPES]
    if unknown:
        typer.echo(
            dumps({"error": "unknown entity types", "detail": unknown, "known": ENTITY_TYPES}),
            err=True,
        )
        raise typer.Exit(2)
    return chosen


@app.command("scan")
def pii_scan(
    file: Annotated[Path | None, typer.Option(help="Read lines from this file (UTF-8)")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help='One JSON line per input line: {"entities": [...]}')
    ] = False,
    types: Annotated[
        str | None, typer.Option(help="Comma-separated entity types (default: all)")
    ] = None,
) -> None:
    """Find resident IDs, mobile numbers, bank cards, e-mail and IP addresses, SSNs and NINOs in
    each input line. --json writes the raw findings (type, start, end, text, score; offsets in
    code points); the readable form shows each finding masked."""
    from lendguard.privacy.pii import mask_value, scan, stdin_lines

    chosen = _pii_types(types)
    lines = _pii_lines(file) if file is not None else stdin_lines()
    for number, line in enumerate(lines, start=1):
        entities = scan(line, chosen)
        if json_out:
            typer.echo(orjson.dumps({"entities": [e.as_dict() for e in entities]}).decode())
            continue
        for e in entities:
            typer.echo(
                f"{number}:{e.start}-{e.end} {e.type} {e.score:.2f} {mask_value(e.type, e.text)}"
            )


@app.command("mask")
def pii_mask(
    file: Annotated[Path | None, typer.Option(help="Read lines from this file (UTF-8)")] = None,
    operator: Annotated[
        str,
        typer.Option(help="mask (138****5678), hash (keyed HMAC token) or encrypt (AES-GCM)"),
    ] = "mask",
    types: Annotated[
        str | None, typer.Option(help="Comma-separated entity types (default: all)")
    ] = None,
) -> None:
    """Write each input line with its personal information masked, hashed or encrypted (keys
    from LENDGUARD_PII_KEY)."""
    from lendguard.privacy.pii import OPERATORS, PiiMasker, as_operator, stdin_lines

    try:
        op = as_operator(operator)
    except ValueError:
        error = {"error": "unknown operator", "detail": operator, "known": OPERATORS}
        typer.echo(dumps(error), err=True)
        raise typer.Exit(2) from None
    chosen = _pii_types(types)
    masker = PiiMasker(get_settings().pii_key)
    lines = _pii_lines(file) if file is not None else stdin_lines()
    for line in lines:
        typer.echo(masker.apply(line, op, chosen)[0])
