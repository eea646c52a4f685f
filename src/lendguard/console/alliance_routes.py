"""The console's alliance page (issue #20): the members this lender cooperates with, how many
identifiers its own alliance list holds per kind, and the record of exchanges with filters.

For roles holding ``alliance:read`` (analyst, officer, admin). Nothing on the page is a
customer's identifier: the list shows counts per kind, an exchange its counts (items, matched),
never the items — the same rule as the exchanges' records themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func, select

from lendguard.auth.service import Scope
from lendguard.console.alliance_i18n import ALLIANCE_ENUMS
from lendguard.console.i18n import translator
from lendguard.console.routes import _locale, _page, _render
from lendguard.models.alliance import AllianceExchange, AllianceListEntry, AllianceMember

router = APIRouter(prefix="/console", include_in_schema=False)

LIST_KINDS = ALLIANCE_ENUMS["alliance list kinds"]
EXCHANGES_SHOWN = 200
# The filters the page offers: each a query parameter and the values it takes.
FILTERS: dict[str, tuple[str, ...]] = {
    "kind": ALLIANCE_ENUMS["alliance exchanges"],
    "role": ALLIANCE_ENUMS["alliance roles"],
    "list_kind": LIST_KINDS,
    "mode": ALLIANCE_ENUMS["alliance modes"],
    "status": ALLIANCE_ENUMS["alliance statuses"],
}
_FILTER_LABELS = {
    "kind": "Exchange",
    "role": "Role",
    "list_kind": "List kind",
    "mode": "Mode",
    "status": "Status",
    "peer": "Peer",
}


@dataclass(slots=True)
class ExchangeFilters:
    """The history's filters as chosen (empty: any), and the problems of those that cannot be
    used (field, English sentence the catalogue translates)."""

    chosen: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)


def exchange_filters(query: Any) -> ExchangeFilters:
    """The filters of a query string: each must be one of the values offered (the peer, a
    member id); anything else is a problem naming the field, and no row is read."""
    from lendguard.alliance.peer import valid_member_id

    found = ExchangeFilters()
    for name, values in FILTERS.items():
        raw = str(query.get(name) or "").strip()
        if not raw:
            continue
        if raw in values:
            found.chosen[name] = raw
        else:
            found.problems.append((name, "Choose one of the values offered."))
    peer = str(query.get("peer") or "").strip()
    if peer:
        if peer == "*" or valid_member_id(peer):
            found.chosen["peer"] = peer
        else:
            found.problems.append(
                ("peer", "Enter a member id: letters, digits, dot, dash or underscore, at most 64.")
            )
    return found


def members(db: Engine) -> list[dict[str, Any]]:
    """Every member ever configured, active first, by id (no secret: the public key only)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(AllianceMember).order_by(AllianceMember.status, AllianceMember.member_id)
        ).all()
    return [
        {
            "member_id": r.member_id,
            "name": r.name,
            "url": r.url,
            "public_key": r.public_key,
            "status": r.status,
            "created_at": r.created_at,
            "removed_at": r.removed_at,
        }
        for r in rows
    ]


def list_counts(db: Engine) -> dict[str, int]:
    """Identifiers on this lender's alliance list now (not removed), per kind, every kind named."""
    with db.connect() as conn:
        rows = conn.execute(
            select(AllianceListEntry.kind, func.count())
            .where(AllianceListEntry.removed_at.is_(None))
            .group_by(AllianceListEntry.kind)
        ).all()
    counts = dict.fromkeys(LIST_KINDS, 0)
    counts.update({str(kind): int(n) for kind, n in rows})
    return counts


def exchanges(
    db: Engine, chosen: dict[str, str], limit: int = EXCHANGES_SHOWN
) -> list[dict[str, Any]]:
    """The newest exchanges matching the filters (counts only: the table holds no item)."""
    columns = {
        "kind": AllianceExchange.kind,
        "role": AllianceExchange.role,
        "list_kind": AllianceExchange.list_kind,
        "mode": AllianceExchange.mode,
        "status": AllianceExchange.status,
        "peer": AllianceExchange.peer,
    }
    query = select(AllianceExchange)
    for name, value in chosen.items():
        query = query.where(columns[name] == value)
    query = query.order_by(AllianceExchange.started_at.desc(), AllianceExchange.id).limit(limit)
    with db.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


@router.get("/alliance")
def alliance_page(request: Request) -> HTMLResponse:
    """Members, the list's counts per kind and the exchanges (newest first, with filters)."""
    info = _page(request, Scope.alliance_read)
    services = request.app.state.services
    db = services.decisions.db
    t = translator(_locale(request, info))
    filters = exchange_filters(request.query_params)
    problems = [f"{t(_FILTER_LABELS[f])}: {t(message)}" for f, message in filters.problems]
    settings = services.settings
    return _render(
        request,
        "alliance.html",
        info,
        422 if problems else 200,
        own_member=settings.alliance_member_id if settings.alliance_signing_key else None,
        members=members(db),
        counts=list_counts(db),
        filters=FILTERS,
        chosen=filters.chosen,
        chosen_peer=str(request.query_params.get("peer") or "")[:64],
        problems=problems,
        exchanges=[] if problems else exchanges(db, filters.chosen),
        shown_limit=EXCHANGES_SHOWN,
    )
