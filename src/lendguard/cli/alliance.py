"""``lendguard alliance``: this lender's part in the anti-fraud alliance (issue #20) from the
command line — its keys and identity, the members, its own list, a PSI with one member, a
lookup of one identifier across every member, an aggregation round, and the record of exchanges.

Every command works on the local database through the same service as the API
(:class:`lendguard.alliance.service.AllianceService`), so each change is checked, recorded and
audited the same way; the actor is ``os:<login name>``. No command prints an identifier it was
given or found: a list import reports counts and line numbers, a PSI the masked values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lendguard.cli import alliance_demo
from lendguard.cli.common import dumps, err, fail, os_actor, problem

if TYPE_CHECKING:
    from lendguard.alliance.service import AllianceService

_T = TypeVar("_T")

app = typer.Typer(
    no_args_is_help=True, help="The anti-fraud alliance: members, list, PSI, lookups."
)
keys_app = typer.Typer(no_args_is_help=True, help="This lender's alliance signing key.")
members_app = typer.Typer(no_args_is_help=True, help="The members this lender cooperates with.")
list_app = typer.Typer(no_args_is_help=True, help="This lender's own alliance list.")
app.add_typer(keys_app, name="keys")
app.add_typer(members_app, name="members")
app.add_typer(list_app, name="list")
app.command("demo")(alliance_demo.demo)

KINDS = ("resident_id", "mobile", "card", "device_id")
KindOption = Annotated[str, typer.Option(help="resident_id, mobile, card or device_id")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]


def _service() -> AllianceService:
    """The alliance service on the migrated database, as the server builds it."""
    from lendguard.alliance.service import AllianceService
    from lendguard.cli.factory import vault
    from lendguard.config import get_settings

    built = vault()
    return AllianceService(built.db, get_settings(), built)


def _kind(kind: str, option: str = "--kind") -> str:
    if kind not in KINDS:
        raise fail(f"{option} {kind!r}: one of {', '.join(KINDS)}")
    return kind


def _answer(call: Any, *args: Any) -> Any:
    """``call(*args)``, a LendGuardError (a refused value, the alliance not configured, a peer
    that refused) printed as one line on stderr with exit status 2."""
    from lendguard.errors import LendGuardError

    try:
        return call(*args)
    except LendGuardError as exc:
        raise fail(problem(exc)) from None


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    from lendguard.errors import LendGuardError

    try:
        return asyncio.run(coroutine)
    except LendGuardError as exc:
        raise fail(problem(exc)) from None


def _body(model: Any, raw: dict[str, Any], title: str) -> Any:
    from lendguard.kit.validation import validated

    return _answer(validated, model, raw, title)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("—" if v is None else str(v) for v in row))
    Console().print(table)


# -- keys and identity ---------------------------------------------------------------------------


@keys_app.command("new")
def keys_new(json_out: JsonOption = False) -> None:
    """A fresh Ed25519 signing key: the base64 seed for LENDGUARD_ALLIANCE_SIGNING_KEY (keep it
    in the secret store) and the public key the other members configure."""
    import base64
    import secrets

    from lendguard.alliance.peer import Identity

    seed = secrets.token_bytes(32)
    identity = Identity("new", seed)
    answer = {"signing_key": base64.b64encode(seed).decode(), "public_key": identity.public_key_b64}
    if json_out:
        typer.echo(dumps(answer))
        return
    typer.echo(f"LENDGUARD_ALLIANCE_SIGNING_KEY={answer['signing_key']}")
    typer.echo(f"public key: {answer['public_key']}")
    err.print("[yellow]Keep the signing key secret: whoever holds it speaks for this lender.[/]")


@app.command("identity")
def identity(json_out: JsonOption = False) -> None:
    """This lender's member id and public key (from the settings), for the other members."""
    from lendguard.alliance.peer import identity_from
    from lendguard.config import get_settings

    settings = get_settings()
    try:
        found = identity_from(settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if found is None:
        raise fail(
            "the alliance is not configured: set LENDGUARD_ALLIANCE_MEMBER_ID and "
            "LENDGUARD_ALLIANCE_SIGNING_KEY (lendguard alliance keys new)"
        )
    answer = {
        "member_id": found.member_id,
        "public_key": found.public_key_b64,
        "lookup_epoch": settings.alliance_lookup_epoch,
    }
    if json_out:
        typer.echo(dumps(answer))
    else:
        Console().print(answer)


# -- members -------------------------------------------------------------------------------------


@members_app.command("list")
def members_list(json_out: JsonOption = False) -> None:
    """Every member configured (active and removed), with its address and public key."""
    from lendguard.auth import audit

    service = _service()
    found = _answer(service.members)
    audit.record_read(service.engine, os_actor(), "alliance.members", "alliance_members")
    if json_out:
        typer.echo(dumps({"members": found}))
        return
    _table(
        "Alliance members",
        ["member", "name", "url", "public key", "status", "added"],
        [
            [m["member_id"], m["name"], m["url"], m["public_key"], m["status"], m["created_at"]]
            for m in found
        ],
    )


@members_app.command("add")
def members_add(
    member_id: Annotated[str, typer.Option("--id", help="The member's id, as it signs")],
    name: Annotated[str, typer.Option(help="The lender's name")],
    url: Annotated[str, typer.Option(help="Its LendGuard's base URL (https://...)")],
    public_key: Annotated[str, typer.Option(help="Its Ed25519 public key (base64)")],
) -> None:
    """Configure a member (both sides must add each other)."""
    from lendguard.alliance.schemas import AllianceMemberBody

    body = _body(
        AllianceMemberBody,
        {"member_id": member_id, "name": name, "url": url, "public_key": public_key},
        "the member is not valid",
    )
    typer.echo(dumps(_answer(_service().add_member, body, os_actor(), None)))


@members_app.command("remove")
def members_remove(
    member_id: Annotated[str, typer.Argument(help="The member's id (members list)")],
) -> None:
    """Stop cooperating with a member: its requests are refused from now on."""
    typer.echo(dumps(_answer(_service().remove_member, member_id, os_actor(), None)))


# -- the list ------------------------------------------------------------------------------------


@list_app.command("add")
def list_add(
    kind: KindOption,
    value: Annotated[str, typer.Option(help="The identifier (any usual spelling)")],
    reason: Annotated[str, typer.Option(help="A code such as confirmed_fraud")] = "confirmed_fraud",
) -> None:
    """Put one identifier on the list (one already there is answered as it is); prints the
    entry with its value masked."""
    from lendguard.alliance.schemas import AllianceListEntryBody

    body = _body(
        AllianceListEntryBody,
        {"kind": _kind(kind), "value": value, "reason": reason},
        "the list entry is not valid",
    )
    typer.echo(dumps(_answer(_service().add_entry, body, os_actor(), None)))


def import_lines(
    service: AllianceService, kind: str, lines: list[str], reason: str, actor: str
) -> dict[str, Any]:
    """Each non-blank line's identifier put on the list: how many were added, were already
    there, or were refused (1-based line numbers with the reason; never the value)."""
    from lendguard.alliance.schemas import AllianceListEntryBody
    from lendguard.errors import LendGuardError
    from lendguard.kit.validation import validated

    added = duplicates = blank = 0
    refused: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        value = line.strip()
        if not value:
            blank += 1
            continue
        try:
            body = validated(
                AllianceListEntryBody,
                {"kind": kind, "value": value, "reason": reason},
                "the list entry is not valid",
            )
            entry = service.add_entry(body, actor, None)
        except LendGuardError as exc:
            reasons = [e.message for e in exc.errors] or [exc.detail]
            refused.append({"line": number, "reason": "; ".join(reasons)})
            continue
        if entry["created"]:
            added += 1
        else:
            duplicates += 1
    return {
        "kind": kind,
        "lines": len(lines),
        "added": added,
        "duplicates": duplicates,
        "refused": len(refused),
        "blank": blank,
        "refused_lines": refused,
    }


@list_app.command("import")
def list_import(
    kind: KindOption,
    file: Annotated[Path, typer.Argument(help="One identifier per line (UTF-8)")],
    reason: Annotated[str, typer.Option(help="A code such as confirmed_fraud")] = "confirmed_fraud",
    json_out: JsonOption = False,
) -> None:
    """Put every identifier of FILE on the list. Reports how many were added, were already
    there and were refused (with their line numbers and why); never echoes a value."""
    _kind(kind)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{file}: {exc.__class__.__name__}: cannot be read as UTF-8 text") from None
    service = _service()
    _answer(service.require_configured)
    summary = import_lines(service, kind, lines, reason, os_actor())
    if json_out:
        typer.echo(dumps(summary))
    else:
        Console().print(
            f"{summary['added']} added, {summary['duplicates']} already on the list, "
            f"{summary['refused']} refused ({summary['lines']} lines)"
        )
        for item in summary["refused_lines"][:50]:
            err.print(f"line {item['line']}: {item['reason']}", markup=False)
        if summary["refused"] > 50:
            err.print(f"... and {summary['refused'] - 50} more (--json lists them all)")
    if summary["refused"]:
        raise typer.Exit(1)


@list_app.command("count")
def list_count(json_out: JsonOption = False) -> None:
    """How many identifiers are on the list, per kind."""
    summary = _answer(_service().list_summary)
    if json_out:
        typer.echo(dumps(summary))
        return
    rows = [[kind, n] for kind, n in summary["counts"].items()] + [["total", summary["total"]]]
    _table("Alliance list", ["kind", "entries"], rows)


# -- exchanges -----------------------------------------------------------------------------------


@app.command("psi")
def psi(
    peer: Annotated[str, typer.Option(help="The member to match with")],
    kind: KindOption,
    cardinality: Annotated[
        bool, typer.Option(help="Learn only how many match, not which (cardinality mode)")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Match this lender's list of KIND with a member's by PSI: which of our entries are on
    theirs (masked), or only how many with --cardinality. Neither side sees the other's list."""
    from lendguard.alliance.schemas import AlliancePsiBody

    body = _body(
        AlliancePsiBody,
        {
            "peer": peer,
            "list_kind": _kind(kind),
            "mode": "cardinality" if cardinality else "intersection",
        },
        "the PSI request is not valid",
    )
    answer = _run(_service().run_psi(body, os_actor(), None))
    if json_out:
        typer.echo(dumps(answer))
        return
    Console().print(
        f"{answer['count']} of our {answer['items']} {kind} entries are on {peer}'s list "
        f"({answer['peer_items']} entries) in {answer['took_ms']:.0f} ms"
    )
    for entry in answer.get("matched") or []:
        typer.echo(f"  #{entry['id']}  {entry['masked']}")


@app.command("lookup")
def lookup(
    kind: KindOption,
    value: Annotated[str, typer.Option(help="The applicant's identifier")],
    customer_id: Annotated[
        str | None, typer.Option(help="The customer the lookup is for (recorded as a digest)")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Ask every active member whether one identifier is on its list; prints the members that
    have it and the event signal (session.alliance_hit) to send with the application."""
    from lendguard.alliance.schemas import AllianceLookupBody

    raw: dict[str, Any] = {"identifiers": [{"kind": _kind(kind), "value": value}]}
    if customer_id is not None:
        raw["customer_id"] = customer_id
    body = _body(AllianceLookupBody, raw, "the lookup is not valid")
    answer = _run(_service().lookup(body, os_actor(), None))
    if json_out:
        typer.echo(dumps(answer))
        return
    hits = answer["hits"]
    asked = len(answer["members_asked"])
    if hits:
        listed = ", ".join(sorted({h["member"] for h in hits}))
        Console().print(f"[red]listed[/] by {listed} ({asked} members asked)")
    else:
        Console().print(f"not listed by any of the {asked} members asked")
    if answer["unavailable"]:
        err.print(f"unavailable: {', '.join(answer['unavailable'])}", markup=False)
    typer.echo(dumps({"session": answer["signal"]}))


@app.command("aggregate")
def aggregate(
    period: Annotated[str, typer.Option(help="The month summed, YYYY-MM")],
    member: Annotated[
        list[str] | None, typer.Option(help="A member to ask (repeat; default: every active)")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Run a secure-aggregation round as aggregator: the alliance's totals of interventions,
    confirmed frauds and losses avoided per scam typology for PERIOD; no member's own figures
    are revealed to anyone."""
    from lendguard.alliance.aggregation import AggregationRunner
    from lendguard.alliance.aggregation_schemas import AllianceAggregationStart
    from lendguard.config import get_settings

    raw: dict[str, Any] = {"period": period}
    if member:
        raw["members"] = list(member)
    body = _body(AllianceAggregationStart, raw, "the round is not valid")
    service = _service()
    found = _answer(service.require_configured)
    assert service.client is not None
    runner = AggregationRunner(
        engine=service.engine,
        identity=found,
        client=service.client,
        min_contributors=get_settings().alliance_min_contributors,
    )
    answer = _run(runner.run(body.period, body.members, os_actor()))
    if json_out:
        typer.echo(dumps(answer))
    else:
        Console().print(answer)


@app.command("history")
def history(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first")] = 50,
    kind: Annotated[
        str | None, typer.Option(help="Only psi, lookup or aggregation exchanges")
    ] = None,
    peer: Annotated[str | None, typer.Option(help="Only exchanges with this member")] = None,
    json_out: JsonOption = False,
) -> None:
    """The record of exchanges, newest first: counts only, never an identifier."""
    from lendguard.auth import audit

    if kind is not None and kind not in ("psi", "lookup", "aggregation"):
        raise fail(f"--kind {kind!r}: one of psi, lookup, aggregation")
    service = _service()
    page = _answer(
        lambda: service.exchanges(kind=kind, peer=peer, since=None, limit=limit, offset=0)
    )
    audit.record_read(service.engine, os_actor(), "alliance.exchanges", "alliance_exchanges")
    if json_out:
        typer.echo(dumps(page))
        return
    _table(
        "Alliance exchanges",
        ["started", "kind", "role", "peer", "list", "mode", "items", "matched", "status"],
        [
            [
                x["started_at"],
                x["kind"],
                x["role"],
                x["peer"],
                x["list_kind"],
                x["mode"],
                x["items"],
                x["matched"],
                x["status"],
            ]
            for x in page["exchanges"]
        ],
    )
